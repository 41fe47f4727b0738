"""Promotion in Dagster: decision reports and lifecycle, the paper canary, and what triggers them.

Glue only (core: ``qgap_assets.promotion.service``):

* ``promotion_lifecycle`` asset - ledgers a decision report (manifest or denial report) for
  every research attempt and starts the paper canary of every new paper candidate; its metadata
  holds the decisions table and the lifecycle table;
* ``paper_canary`` asset - one canary run for every candidate in ``paper`` (and one live-ramp run
  for every candidate in ``live``), through the simulated broker or, when
  ``PromotionSettings.routing_policy_file`` is set, through the execution Router;
* ``new_manifest_sensor`` starts ``promotion_lifecycle_job`` when a manifest (or any attempt
  without a decision report) appears in the ledger; ``canary_paper_runs`` schedules ``paper_canary_job`` after each close.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pandas as pd

from qgap_assets.advisory.models import CandidateEvidence, ControlState, PaperRun, TradingIntent
from qgap_assets.advisory.service import AdvisoryService
from qgap_assets.advisory.store import record_control_validation
from qgap_assets.advisory.validation import ControlCriteria, evaluate_control_validation
from qgap_assets.defs.advisory import AdvisorResource
from qgap_assets.defs.metadata import md_table
from qgap_assets.defs.resources import LedgerResource
from qgap_assets.promotion import canary as cn
from qgap_assets.promotion import lifecycle as lc
from qgap_assets.promotion import service
from qgap_assets.promotion.cli import strategy_kill_check
from qgap_assets.promotion.policy import GatePolicy, load_gate_policy

GROUP = "promotion"


class PromotionSettings(dg.ConfigurableResource):
    """Gate/lifecycle policy file (None = built-in ``gates-v2``) and the paper venue: the
    simulated broker, or the execution Router with ``routing_policy_file`` (the router's
    simulated adapter fills at the bar prices; LEAN/Alpaca come from the environment)."""

    policy_file: str | None = None
    routing_policy_file: str | None = None

    def policy(self) -> GatePolicy:
        return load_gate_policy(self.policy_file) if self.policy_file else GatePolicy()

    def broker(self, engine: Any, candidate: str) -> cn.PaperBroker:
        if not self.routing_policy_file:
            return cn.SimulatedBroker()
        from qgap_assets.execution import OrderIntent, Router, SimulatedAdapter, load_policy

        quotes: dict[str, float] = {}
        adapters = {"simulated": SimulatedAdapter(lambda req: (quotes[req.client_order_id], req.qty))}
        router = Router(engine, load_policy(self.routing_policy_file), adapters)

        def intent(run_id: str, o: cn.PaperOrder, seq: int) -> OrderIntent:
            return OrderIntent(strategy="intraday-tsmom", candidate=candidate[:16], run_id=run_id,
                               symbol=o.symbol, sequence=seq,
                               side="buy" if o.quantity > 0 else "sell", qty=abs(o.quantity),
                               position_qty=o.position_before)

        def quote(o: cn.PaperOrder, seq: int, run_id: str) -> None:
            quotes[intent(run_id, o, seq).client_order_id] = o.market_price

        def route(run_id: str, o: cn.PaperOrder, seq: int) -> tuple[str, float, float | None]:
            r = router.route(intent(run_id, o, seq))
            return r.status, r.filled_qty, r.filled_avg_price

        return cn.RouterBroker(route, quote, adapter="router")


def advisory_adjuster(advisory: AdvisoryService, kill_check: Any) -> Any:
    """The advisory side input of a canary run: ask the advisor about the candidate (its recent
    paper runs as evidence), under the kill switch as control state, and hand the bounded result
    to the run as a :class:`~qgap_assets.promotion.canary.PaperAdjustment`. In ``shadow`` and
    ``paper_review`` the advice is only ledgered (identity adjustment); an advisor error passes
    through (identity, error ledgered)."""

    def adjust(plan: cn.CanaryPlan, bars: pd.DataFrame, phase: str,
               prior_runs: list[dict[str, Any]]) -> cn.PaperAdjustment:
        symbols = tuple(sorted(str(x) for x in bars["symbol"].unique()))
        why = kill_check(plan.strategy)
        controls = ControlState(halted=why is not None, reasons=(why,) if why else ())
        runs = tuple(PaperRun(pnl=float(r["pnl"]), fills=int(json.loads(r["observed_json"])["fills"]),
                              errors=0) for r in prior_runs[-10:])
        evidence = CandidateEvidence(candidate_key=plan.candidate_key, strategy=plan.strategy,
                                     recent_paper_runs=runs)
        out = advisory.advise(evidence, lane="paper" if phase == "paper" else "live",
                              intent=TradingIntent(enabled_symbols=symbols), controls=controls)
        after, cf = out.result.intent_after, out.result.counterfactual_intent
        counterfactual = None if cf is None else cn.PaperAdjustment(
            cf.position_scale, cf.threshold, tuple(sorted(set(symbols) - set(cf.enabled_symbols))))
        return cn.PaperAdjustment(after.position_scale, after.threshold,
                                  tuple(sorted(set(symbols) - set(after.enabled_symbols))),
                                  out.call_id, out.stage.value, counterfactual)

    return adjust


def record_control_validation_if_due(engine: Any, key: str, strategy: str,
                                     criteria: ControlCriteria = ControlCriteria()) -> str | None:
    """The control validation ``paper_bounded`` requires: every ``criteria.min_runs`` paper runs
    that carried a counterfactual (record-only stages), compare the advised arm (what bounded
    advice would have done, scored by the simulator) with the unadvised control arm of the same
    sessions, and ledger the verdict. Returns the validation id when one was recorded."""
    pairs = []
    for run in service.canary_runs(engine, key):
        observed = json.loads(run["observed_json"])
        if run["phase"] == "paper" and observed.get("advised_arm") and observed.get("control_arm"):
            pairs.append((observed["advised_arm"], observed["control_arm"]))
    if not pairs or len(pairs) % criteria.min_runs:
        return None
    window = pairs[-criteria.min_runs:]
    validation = evaluate_control_validation(
        strategy, key, [PaperRun(pnl=a["pnl"], fills=int(a["fills"]), errors=0) for a, _ in window],
        [PaperRun(pnl=c["pnl"], fills=int(c["fills"]), errors=0) for _, c in window], criteria)
    return record_control_validation(engine, validation)


def _advice_label(engine: Any, key: str) -> str:
    advice = json.loads(service.canary_runs(engine, key)[-1]["observed_json"]).get("advice") or {}
    return (f"{advice.get('stage')}: scale {advice.get('position_scale')}, threshold x"
            f"{advice.get('threshold_multiplier')}, off {list(advice.get('disabled_symbols') or [])}")


def lifecycle_table(engine: Any) -> list[dict[str, Any]]:
    return [{"candidate": s.candidate_key[:16], "state": s.state.value, "events": s.seq,
             "ramp_stage": s.ramp_stage_index, "manifest": (s.manifest_sha256 or "")[:16]}
            for s in service.candidates(engine)]


@dg.asset(group_name=GROUP, deps=["promotion_decision"])
def promotion_lifecycle(ledger: LedgerResource) -> dg.MaterializeResult:
    """Decision reports for every attempt (granted: manifest, denied: denial report) and the
    paper canary started for every new paper candidate."""
    engine, store = ledger.ledger().engine, ledger.store
    recorded = service.sync_attempts(engine, store)
    started = []
    for s in service.candidates(engine):
        if s.state is lc.State.PAPER_CANDIDATE:
            service.start_canary(engine, s.candidate_key)
            started.append(s.candidate_key[:16])
    decisions = [{"candidate": r["candidate_key"][:16], "decision": r["decision"],
                  "reasons": ", ".join(r["reasons"]) or "-", "policy": r["gate_policy_version"],
                  "artifact": r["artifact_kind"], "sha256": r["artifact_sha256"][:16]}
                 for r in service.decision_reports(engine)[-20:]]
    reports = service.decision_reports(engine)
    latest = ledger.ledger().run(reports[-1]["run_id"]) if reports else None
    gates = [{k: g[k] for k in ("name", "passed", "value", "threshold", "reason_code")}
             for g in sorted(latest["gates"], key=lambda g: g["gate_order"])] if latest else []
    return dg.MaterializeResult(metadata={
        "recorded_now": len(recorded), "canaries_started": started,
        "decisions": md_table(decisions), "latest_gates": md_table(gates),
        "lifecycle": md_table(lifecycle_table(engine))})


@dg.asset(group_name=GROUP, deps=[promotion_lifecycle])
def paper_canary(ledger: LedgerResource, promotion_settings: PromotionSettings,
                 advisor: AdvisorResource) -> dg.MaterializeResult:
    """One canary run per candidate in paper (live: one capital-ramp run), with the bounded
    advisory side input of the strategy's advisory stage."""
    engine, store = ledger.ledger().engine, ledger.store
    policy = promotion_settings.policy()
    kill_check = strategy_kill_check(engine)
    adjust = advisory_adjuster(advisor.service(), kill_check)
    rows = []
    for s in service.candidates(engine):
        if s.state not in (lc.State.PAPER, lc.State.LIVE):
            continue
        r = service.canary_run(engine, store, s.candidate_key, policy,
                               broker=promotion_settings.broker(engine, s.candidate_key),
                               kill_check=kill_check, adjust=adjust)
        record_control_validation_if_due(engine, s.candidate_key, s.strategy)
        rows.append({"candidate": s.candidate_key[:16], "phase": r.phase, "session": r.session,
                     "clean": r.verdict.clean, "regressions": ", ".join(
                         x.value for x in r.verdict.regressions) or "-", "action": r.action,
                     "state": r.state.value, "capital": r.capital_fraction,
                     "advice": _advice_label(engine, s.candidate_key),
                     "rollback_to": (r.rollback_to or "")[:16]})
    return dg.MaterializeResult(metadata={"runs": md_table(rows), "lifecycle": md_table(lifecycle_table(engine))})


promotion_lifecycle_job = dg.define_asset_job(
    "promotion_lifecycle_job",
    selection=dg.AssetSelection.assets(promotion_lifecycle) | dg.AssetSelection.assets(
        "candidate_evidence", "advisory_review"),
    executor_def=dg.in_process_executor,
    description="Decision reports for new attempts, the advisory review of the latest decision "
                "(a side input, off the cycle's critical path), and the canary start of new "
                "paper candidates.")
paper_canary_job = dg.define_asset_job(
    "paper_canary_job", selection=[paper_canary], executor_def=dg.in_process_executor,
    description="One paper canary (or live-ramp) run per candidate in paper or live.")

canary_paper_runs = dg.ScheduleDefinition(
    name="canary_paper_runs", job=paper_canary_job, cron_schedule="45 16 * * 1-5",
    execution_timezone="America/New_York",
    description="A canary run for every paper/live candidate each weekday after the close.")


@dg.sensor(job=promotion_lifecycle_job, minimum_interval_seconds=60,
           description="Starts the lifecycle job (decision report; canary start on a grant) when "
                       "a promotion attempt or paper-candidate manifest appears in the ledger.")
def new_manifest_sensor(context: dg.SensorEvaluationContext, ledger: LedgerResource) -> dg.SensorResult:
    engine = ledger.ledger().engine
    pending = service.pending_attempts(engine)
    cursor = context.cursor or ""
    manifests = sorted((m for m in ledger.ledger().manifests() if m["created_at"] > cursor),
                       key=lambda m: m["created_at"])
    if not pending and not manifests:
        return dg.SensorResult(skip_reason="no new promotion attempt or manifest")
    requests = [dg.RunRequest(run_key=f"manifest:{m['manifest_sha256']}",
                              tags={"qgap/manifest": m["manifest_sha256"][:16]}) for m in manifests]
    if pending and not manifests:
        requests.append(dg.RunRequest(run_key=f"attempt:{pending[-1]}"))
    return dg.SensorResult(run_requests=requests,
                           cursor=manifests[-1]["created_at"] if manifests else cursor)


defs = dg.Definitions(assets=[promotion_lifecycle, paper_canary],
                      jobs=[promotion_lifecycle_job, paper_canary_job],
                      schedules=[canary_paper_runs], sensors=[new_manifest_sensor],
                      resources={"promotion_settings": PromotionSettings()})
