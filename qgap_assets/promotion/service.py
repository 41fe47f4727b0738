"""The promotion service: the thin layer that ledgers promotion attempts and the lifecycle.

Pure decisions live in ``gates``/``decision``/``lifecycle``/``canary``; this module only reads
the ledger, calls them, and appends what happened (granted or refused) to the append-only
``promotion_*`` tables and the artifact store:

* :func:`record_attempt` - every research promotion attempt gets a decision report row and an
  artifact: the paper-candidate manifest when granted, a denial report (reasons, every gate with
  details, the gate policy and its hash) when denied. A grant also appends ``promote``
  (candidate -> paper_candidate). Idempotent per attempt; :func:`sync_attempts` catches up.
* :func:`start_canary`, :func:`canary_run` - the paper canary and, once live, the capital ramp;
  a critical regression rolls back to the previous champion, N clean runs make a
  ``live_candidate``, a regression or kill switch while live drops back to paper.
* :func:`approve` - two distinct approvers take a live candidate live at 10 % capital.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from qgap_assets.errors import InputValidationError, QgapError
from qgap_assets.ledger.artifacts import ArtifactStore
from qgap_assets.ledger.hashing import canonical_json, utc_now_iso
from qgap_assets.ledger.repository import Ledger
from qgap_assets.ledger.schema import research_promotion_attempts, research_runs
from qgap_assets.promotion import canary as cn
from qgap_assets.promotion import lifecycle as lc
from qgap_assets.promotion.manifest import read_manifest, validate_denial_report
from qgap_assets.promotion.policy import GatePolicy
from qgap_assets.promotion.records import (promotion_approvals, promotion_canary_runs,
                                           promotion_decision_reports, promotion_lifecycle_events)

SYSTEM_ACTOR = "qgap-promotion"
KILL_SWITCH = "kill_switch"
RAMP_ADVANCE = "ramp_advance"
NO_PREVIOUS_CHAMPION = "no_previous_champion"
DENIAL_SCHEMA = "qgap/denial-report/v1"


class PromotionRefused(QgapError):
    """A lifecycle request the rules refuse (the refusal is ledgered; exit 1)."""


# -- decision reports ----------------------------------------------------------------------------
def _policy_of(run: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(run["config_json"]).get("gates", {}))


def denial_report(run: dict[str, Any], attempt: dict[str, Any]) -> dict[str, Any]:
    """The denial report artifact: reasons in order, every gate with its details, the policy."""
    return {
        "schema": DENIAL_SCHEMA, "kind": "denial_report", "strategy": run["strategy"],
        "candidate_key": attempt["candidate_key"], "params": json.loads(run["params_json"]),
        "reasons": json.loads(attempt["reasons_json"]),
        "gates": [{**{k: g[k] for k in ("name", "passed", "value", "threshold", "reason_code")},
                   "details": json.loads(g["details_json"])} for g in
                  sorted(run["gates"], key=lambda g: g["gate_order"])],
        "gate_policy": {"version": run["gate_policy_version"], "hash": run["gate_policy_hash"],
                        "policy": _policy_of(run)},
        "hashes": {"dataset": run["dataset_hash"], "feature_contract": run["feature_contract_hash"],
                   "code": run["code_hash"], "config": run["config_hash"],
                   "result": run["result_hash"], "record": run["record_hash"]},
        "ledger": {"run_id": run["run_id"], "attempt_id": attempt["attempt_id"],
                   "dagster_run_id": run["dagster_run_id"]},
        "created_at": attempt["created_at"],
    }


def record_attempt(engine: Engine, store: ArtifactStore, attempt_id: str) -> dict[str, Any] | None:
    """Ledger the decision report of one research attempt (idempotent). Returns the report row,
    or None for a grant whose manifest is not written yet (retried by :func:`sync_attempts`)."""
    with engine.connect() as conn:
        done = conn.execute(select(promotion_decision_reports).where(
            promotion_decision_reports.c.attempt_id == attempt_id)).first()
        if done is not None:
            return dict(done._mapping)
        arow = conn.execute(select(research_promotion_attempts).where(
            research_promotion_attempts.c.attempt_id == attempt_id)).first()
    if arow is None:
        raise InputValidationError(f"no promotion attempt {attempt_id!r} in the ledger")
    attempt = dict(arow._mapping)
    ledger = Ledger(engine)
    run = ledger.run(attempt["run_id"])
    assert run is not None
    if attempt["decision"] == "promote":
        rows = [m for m in ledger.manifests(attempt["candidate_key"])
                if m["attempt_id"] == attempt_id]
        if not rows:
            return None
        kind, sha, path = "manifest", rows[0]["manifest_sha256"], rows[0]["path"]
    else:
        report = json.loads(canonical_json(denial_report(run, attempt)))
        validate_denial_report(report)
        p = store.put_json(report)
        kind, sha, path = "denial_report", p.stem, str(p)
    row = {"attempt_id": attempt_id, "run_id": run["run_id"],
           "candidate_key": attempt["candidate_key"], "strategy": run["strategy"],
           "decision": attempt["decision"], "reasons_json": attempt["reasons_json"],
           "gate_policy_version": run["gate_policy_version"],
           "gate_policy_hash": run["gate_policy_hash"], "artifact_kind": kind,
           "artifact_sha256": sha, "artifact_path": path, "created_at": utc_now_iso()}
    try:
        with engine.begin() as conn:
            conn.execute(insert(promotion_decision_reports).values(**row))
            if kind == "manifest":
                _transition(conn, attempt["candidate_key"], run["strategy"], lc.EventKind.PROMOTE,
                            lc.TransitionContext(gates_passed=True), SYSTEM_ACTOR,
                            f"attempt {attempt_id}", manifest_sha256=sha)
    except IntegrityError:  # a concurrent writer recorded it first
        pass
    return row


def pending_attempts(engine: Engine) -> list[str]:
    """Research attempts that have no decision report yet, oldest first."""
    with engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(
            select(research_promotion_attempts.c.attempt_id)
            .join(research_runs, research_runs.c.run_id == research_promotion_attempts.c.run_id)
            .outerjoin(promotion_decision_reports, promotion_decision_reports.c.attempt_id
                       == research_promotion_attempts.c.attempt_id)
            .where(promotion_decision_reports.c.attempt_id.is_(None))
            .order_by(research_runs.c.seq))]


def sync_attempts(engine: Engine, store: ArtifactStore) -> list[dict[str, Any]]:
    """Record every research attempt that has no decision report yet (oldest first)."""
    return [r for r in (record_attempt(engine, store, i) for i in pending_attempts(engine))
            if r is not None]


def decision_reports(engine: Engine, candidate: str | None = None,
                     denied_only: bool = False) -> list[dict[str, Any]]:
    q = select(promotion_decision_reports).order_by(promotion_decision_reports.c.created_at)
    if candidate:
        q = q.where(promotion_decision_reports.c.candidate_key.startswith(candidate))
    if denied_only:
        q = q.where(promotion_decision_reports.c.decision == "deny")
    with engine.connect() as conn:
        return [{**dict(r._mapping), "reasons": json.loads(r.reasons_json)} for r in conn.execute(q)]


# -- lifecycle -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CandidateStatus:
    candidate_key: str
    strategy: str
    state: lc.State
    seq: int
    ramp_stage_index: int | None
    manifest_sha256: str | None


def events(conn_or_engine: Engine | Connection, key: str) -> list[dict[str, Any]]:
    q = (select(promotion_lifecycle_events).where(promotion_lifecycle_events.c.candidate_key == key)
         .order_by(promotion_lifecycle_events.c.seq))
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]
    return [dict(r._mapping) for r in conn_or_engine.execute(q)]


def _status(key: str, rows: list[dict[str, Any]]) -> CandidateStatus:
    state, ramp, sha, strategy = lc.State.CANDIDATE, None, None, ""
    for r in rows:
        strategy = r["strategy"]
        sha = r["manifest_sha256"] or sha
        if r["ok"]:
            state = lc.State(r["to_state"])
            if r["ramp_stage_index"] is not None:
                ramp = r["ramp_stage_index"]
            if state is not lc.State.LIVE:
                ramp = None
    return CandidateStatus(key, strategy, state, len(rows), ramp, sha)


def status(engine: Engine, key: str) -> CandidateStatus:
    return _status(key, events(engine, key))


def resolve_candidate(engine: Engine, prefix: str) -> str:
    """A full candidate key from a unique prefix (as printed by ``qgap decisions``)."""
    with engine.connect() as conn:
        keys = {str(r[0]) for r in conn.execute(
            select(promotion_decision_reports.c.candidate_key).distinct()
            .where(promotion_decision_reports.c.candidate_key.startswith(prefix)))}
    if len(keys) != 1:
        raise InputValidationError(f"candidate {prefix!r}: {'no' if not keys else 'ambiguous,'} "
                                   f"match among recorded candidates {sorted(keys)[:5]}")
    return keys.pop()


def candidates(engine: Engine) -> list[CandidateStatus]:
    with engine.connect() as conn:
        keys = [str(r[0]) for r in conn.execute(
            select(promotion_lifecycle_events.c.candidate_key).distinct())]
        return sorted((_status(k, events(conn, k)) for k in keys),
                      key=lambda s: s.candidate_key)


def _transition(conn: Connection, key: str, strategy: str, kind: lc.EventKind,
                ctx: lc.TransitionContext, actor: str, detail: str, **extra: Any
                ) -> lc.TransitionResult:
    rows = events(conn, key)
    current = _status(key, rows)
    res = lc.transition(current.state, kind, ctx)
    strategy = strategy or current.strategy or str(conn.execute(
        select(promotion_decision_reports.c.strategy)
        .where(promotion_decision_reports.c.candidate_key == key).limit(1)).scalar() or "")
    _insert_event(conn, key, strategy, len(rows) + 1, kind.value,
                  res.from_state.value, res.new_state.value, res.ok, res.reason_code.value, actor,
                  f"{res.detail}; {detail}" if detail else res.detail, ctx, **extra)
    return res


def _insert_event(conn: Connection, key: str, strategy: str, seq: int, kind: str, frm: str,
                  to: str, ok: bool, reason: str, actor: str, detail: str,
                  ctx: lc.TransitionContext | None, **extra: Any) -> None:
    context = {} if ctx is None else {
        "gates_passed": ctx.gates_passed, "canary_runs_required": ctx.canary_runs_required,
        "canary_verdicts": [{"run_id": v.run_id, "clean": v.clean,
                             "regressions": [r.value for r in v.regressions]}
                            for v in ctx.canary_verdicts],
        "approvals": [a.approver for a in ctx.approvals], "ramp_stage_index": ctx.ramp_stage_index}
    conn.execute(insert(promotion_lifecycle_events).values(
        event_id=uuid.uuid4().hex, candidate_key=key, strategy=strategy, seq=seq, kind=kind,
        from_state=frm, to_state=to, ok=ok, reason_code=reason, actor=actor, detail=detail,
        context_json=canonical_json(context), created_at=utc_now_iso(),
        manifest_sha256=extra.get("manifest_sha256"),
        ramp_stage_index=extra.get("ramp_stage_index"),
        capital_fraction=extra.get("capital_fraction"), rollback_to=extra.get("rollback_to")))


def _checked(res: lc.TransitionResult) -> lc.TransitionResult:
    if not res.ok:
        raise PromotionRefused(f"{res.reason_code.value}: {res.detail}")
    return res


def start_canary(engine: Engine, key: str, actor: str = SYSTEM_ACTOR) -> lc.TransitionResult:
    with engine.begin() as conn:  # a refusal is ledgered too, then raised
        res = _transition(conn, key, "", lc.EventKind.START_CANARY, lc.TransitionContext(), actor,
                          "paper canary started")
    return _checked(res)


def retire(engine: Engine, key: str, actor: str, reason: str) -> lc.TransitionResult:
    with engine.begin() as conn:
        res = _transition(conn, key, "", lc.EventKind.RETIRE, lc.TransitionContext(), actor, reason)
    return _checked(res)


def drop_back(engine: Engine, key: str, actor: str, reason: str) -> lc.TransitionResult:
    """live -> paper (kill switch, regression, or a person): the canary starts over."""
    with engine.begin() as conn:
        res = _transition(conn, key, "", lc.EventKind.DROP_BACK, lc.TransitionContext(), actor,
                          reason)
    return _checked(res)


def approvals(engine: Engine, key: str) -> tuple[lc.Approval, ...]:
    with engine.connect() as conn:
        rows = conn.execute(select(promotion_approvals).where(
            promotion_approvals.c.candidate_key == key).order_by(promotion_approvals.c.created_at))
        return tuple(lc.Approval(r.approver, r.created_at, r.note) for r in rows)


def approve(engine: Engine, key: str, by: str, note: str = "") -> tuple[lc.ApprovalResult,
                                                                        lc.TransitionResult | None]:
    """Record an approval of a live candidate; the second distinct approver takes it live at the
    first ramp stage. The same person twice is refused (and the database refuses it too)."""
    current = status(engine, key)
    if current.state is not lc.State.LIVE_CANDIDATE:
        raise PromotionRefused(f"not_live_candidate: candidate {key[:12]} is {current.state.value}; "
                               "approvals are for live candidates")
    result = lc.record_approval(approvals(engine, key), by, note=note)
    if not result.ok:
        raise PromotionRefused(result.detail)
    new = result.approvals[-1]
    went_live = None
    try:
        with engine.begin() as conn:
            conn.execute(insert(promotion_approvals).values(
                approval_id=uuid.uuid4().hex, candidate_key=key, approver=new.approver,
                approver_key=new.approver_key, note=note, created_at=new.approved_at))
            if lc.approvals_satisfied(result.approvals):
                went_live = _transition(
                    conn, key, "", lc.EventKind.GO_LIVE,
                    lc.TransitionContext(approvals=result.approvals, ramp_stage_index=0),
                    new.approver, "two distinct approvals", ramp_stage_index=0,
                    capital_fraction=lc.RAMP_STAGES[0])
    except IntegrityError as exc:
        raise PromotionRefused(f"duplicate_approver: {by.strip()!r} has already approved") from exc
    return result, went_live


# -- canary runs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CanaryRunOutcome:
    candidate_key: str
    seq: int
    phase: str
    session: str
    verdict: lc.CanaryRunVerdict
    action: str  # continue | live_candidate | rollback | ramp_advanced | drop_back
    state: lc.State
    capital_fraction: float | None = None
    rollback_to: str | None = None


def canary_runs_in(conn: Connection, key: str) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(
        select(promotion_canary_runs).where(promotion_canary_runs.c.candidate_key == key)
        .order_by(promotion_canary_runs.c.seq))]


def canary_runs(engine: Engine, key: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return canary_runs_in(conn, key)


def _phase_start(rows: list[dict[str, Any]], include_ramp: bool = False) -> int:
    """Seq of the latest granted event that entered the current state (a ramp step starts a
    new stage when ``include_ramp``)."""
    return max((r["seq"] for r in rows if r["ok"] and r["to_state"] in ("paper", "live")
                and (include_ramp or r["kind"] != RAMP_ADVANCE)), default=0)


def _verdict_of(row: dict[str, Any]) -> lc.CanaryRunVerdict:
    return lc.CanaryRunVerdict(row["canary_run_id"], bool(row["clean"]),
                               tuple(lc.Regression(r) for r in json.loads(row["regressions_json"])))


def previous_champion(engine: Engine, key: str, strategy: str) -> str | None:
    """The candidate of the same strategy that most recently started a canary before this one
    and still stands (not rolled back or retired)."""
    with engine.connect() as conn:
        starts = conn.execute(
            select(promotion_lifecycle_events.c.candidate_key, promotion_lifecycle_events.c.created_at)
            .where(promotion_lifecycle_events.c.strategy == strategy,
                   promotion_lifecycle_events.c.kind == lc.EventKind.START_CANARY.value,
                   promotion_lifecycle_events.c.ok.is_(True))
            .order_by(promotion_lifecycle_events.c.created_at.desc())).all()
        for other, _ in starts:
            if other != key and _status(other, events(conn, other)).state not in (
                    lc.State.ROLLED_BACK, lc.State.RETIRED):
                return str(other)
    return None


def load_plan(engine: Engine, store: ArtifactStore, key: str) -> tuple[cn.CanaryPlan, pd.DataFrame]:
    sha = status(engine, key).manifest_sha256
    if sha is None:
        raise PromotionRefused(f"candidate {key[:12]} has no paper-candidate manifest")
    path = next((r["artifact_path"] for r in decision_reports(engine, key)
                 if r["artifact_sha256"] == sha), None) or str(store.root / f"{sha}.json")
    manifest, checked = read_manifest(path)
    plan = cn.CanaryPlan.from_manifest(manifest, checked)
    bars = pd.read_parquet(store.path_of(plan.dataset_ref))
    return plan, bars


def canary_run(engine: Engine, store: ArtifactStore, key: str, policy: GatePolicy | None = None,
               broker: cn.PaperBroker | None = None, bars: pd.DataFrame | None = None,
               session: str | None = None,
               kill_check: Callable[[str], str | None] | None = None,
               adjust: Callable[[cn.CanaryPlan, pd.DataFrame, str, list[dict[str, Any]]],
                                cn.PaperAdjustment] | None = None) -> CanaryRunOutcome:
    """One paper (state ``paper``) or live-ramp (state ``live``) run of a candidate.

    ``bars`` default to the manifest's dataset; ``session`` defaults to cycling through its last
    ``canary_runs`` sessions. ``kill_check(strategy)`` returning a reason drops a live candidate
    back to paper before anything trades. ``adjust(plan, bars, phase, prior_runs)`` is the
    advisory side input: it returns the bounded :class:`~canary.PaperAdjustment` for this run
    (identity unless the strategy's advisory stage lets advice act), recorded with the run;
    the simulator expectation is computed under the same adjustment, so the comparison stays
    exact.
    """
    pol = (policy or GatePolicy()).lifecycle
    current = status(engine, key)
    if current.state not in (lc.State.PAPER, lc.State.LIVE):
        raise PromotionRefused(f"not_in_canary: candidate {key[:12]} is {current.state.value}")
    phase = "paper" if current.state is lc.State.PAPER else "live"
    plan, dataset = load_plan(engine, store, key)
    if phase == "live" and kill_check is not None:
        why = kill_check(plan.strategy)
        if why:
            drop_back(engine, key, SYSTEM_ACTOR, f"{KILL_SWITCH}: {why}")
            raise PromotionRefused(f"{KILL_SWITCH}: {why}; candidate {key[:12]} dropped back to paper")
    market = dataset if bars is None else bars
    all_runs = canary_runs(engine, key)
    rows = events(engine, key)
    start = _phase_start(rows)
    prior = [r for r in all_runs if r["phase"] == phase and r["event_seq"] >= start]
    if session is None:
        dates = cn.session_dates(market)[-pol.canary_runs:]
        session = dates[len(all_runs) % len(dates)]
    adjustment = adjust(plan, market, phase, all_runs) if adjust is not None else cn.PaperAdjustment()
    run_plan, run_market = adjustment.apply(plan, market)
    orders, expected, capital = cn.plan_session(run_plan, run_market, session,
                                                adjustment.position_scale)
    arms = (cn.advised_arm(plan, market, session, adjustment.counterfactual)
            if adjustment.counterfactual is not None else None)
    env = cn.envelope(plan, dataset, pol)
    run_id = uuid.uuid4().hex
    report = (broker or cn.SimulatedBroker()).execute(run_id, orders)
    observed = cn.observe(run_id, orders, report, plan.cost_bps, capital)
    verdict = lc.evaluate_canary_run(observed, expected, env,
                                     previous_run_pnls=[r["pnl"] for r in prior])
    verdicts = [_verdict_of(r) for r in prior] + [verdict]
    with engine.begin() as conn:
        conn.execute(insert(promotion_canary_runs).values(
            canary_run_id=run_id, candidate_key=key, seq=len(all_runs) + 1, phase=phase,
            event_seq=len(rows),
            ramp_stage_index=current.ramp_stage_index, session=session, adapter=report.adapter,
            clean=verdict.clean, critical=verdict.critical,
            regressions_json=canonical_json([r.value for r in verdict.regressions]),
            details_json=canonical_json(list(verdict.details)),
            observed_json=canonical_json({"fills": len(observed.fills), "pnl": observed.pnl,
                                          "max_drawdown": observed.max_drawdown,
                                          "fill_rate": observed.fill_rate,
                                          "error_rate": observed.error_rate,
                                          "advice": asdict(adjustment),
                                          "control_arm": {"pnl": expected.pnl,
                                                          "fills": float(len(expected.fills))},
                                          "advised_arm": arms}),
            expected_json=canonical_json({"fills": len(expected.fills), "pnl": expected.pnl,
                                          "expected_pnl_per_run": env.expected_pnl_per_run,
                                          "pnl_sigma_per_run": env.pnl_sigma_per_run}),
            pnl=observed.pnl, expected_pnl=expected.pnl,
            pnl_upper_bound=verdict.pnl_upper_bound if verdict.pnl_upper_bound != float("inf")
            else None, created_at=utc_now_iso()))
        return _after_run(conn, engine, key, current, phase, verdicts, verdict, session, pol)


def _after_run(conn: Connection, engine: Engine, key: str, current: CandidateStatus, phase: str,
               verdicts: list[lc.CanaryRunVerdict], verdict: lc.CanaryRunVerdict, session: str,
               pol: Any) -> CanaryRunOutcome:
    seq = len(verdicts)
    detail = "; ".join(verdict.details) or "clean"
    if phase == "paper":
        outcome = lc.canary_outcome(verdicts, pol.canary_runs, max_degraded_runs=pol.max_degraded_runs)
        if outcome is lc.CanaryOutcome.ROLLBACK:
            champion = previous_champion(engine, key, current.strategy)
            _transition(conn, key, "", lc.EventKind.ROLLBACK, lc.TransitionContext(), SYSTEM_ACTOR,
                        f"critical regression in run {verdict.run_id}: {detail}; rollback to "
                        f"{champion or NO_PREVIOUS_CHAMPION}", rollback_to=champion)
            return CanaryRunOutcome(key, seq, phase, session, verdict, "rollback",
                                    lc.State.ROLLED_BACK, rollback_to=champion)
        if outcome is lc.CanaryOutcome.PROMOTE_LIVE_CANDIDATE:
            _transition(conn, key, "", lc.EventKind.CANARY_PASSED, lc.TransitionContext(
                canary_verdicts=tuple(verdicts), canary_runs_required=pol.canary_runs),
                SYSTEM_ACTOR, f"{pol.canary_runs} consecutive clean paper runs")
            return CanaryRunOutcome(key, seq, phase, session, verdict, "live_candidate",
                                    lc.State.LIVE_CANDIDATE)
        return CanaryRunOutcome(key, seq, phase, session, verdict, "continue", lc.State.PAPER)
    stage = current.ramp_stage_index or 0
    if not verdict.clean:
        _transition(conn, key, "", lc.EventKind.DROP_BACK, lc.TransitionContext(), SYSTEM_ACTOR,
                    f"regression while live in run {verdict.run_id}: {detail}")
        return CanaryRunOutcome(key, seq, phase, session, verdict, "drop_back", lc.State.PAPER)
    rows = events(conn, key)
    stage_start = _phase_start(rows, include_ramp=True)
    clean_in_stage = sum(1 for r in canary_runs_in(conn, key) if r["phase"] == "live"
                         and r["event_seq"] >= stage_start and r["clean"])
    step = lc.next_ramp_stage(stage, clean_in_stage, pol.ramp_runs)
    if step.advanced:
        _insert_event(conn, key, current.strategy, len(rows) + 1, RAMP_ADVANCE, "live", "live",
                      True, step.reason_code.value, SYSTEM_ACTOR,
                      f"{clean_in_stage} clean runs at {lc.RAMP_STAGES[stage]:.0%}: capital "
                      f"{step.capital_fraction:.0%}", None, ramp_stage_index=step.stage_index,
                      capital_fraction=step.capital_fraction)
        return CanaryRunOutcome(key, seq, phase, session, verdict, "ramp_advanced", lc.State.LIVE,
                                step.capital_fraction)
    return CanaryRunOutcome(key, seq, phase, session, verdict, "continue", lc.State.LIVE,
                            step.capital_fraction)


def manifest_path(engine: Engine, key: str) -> Path | None:
    for r in decision_reports(engine, key):
        if r["artifact_kind"] == "manifest":
            return Path(r["artifact_path"])
    return None
