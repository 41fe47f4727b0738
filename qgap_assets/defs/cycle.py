"""The autonomy cycle's assets and blocking checks. Glue only: each asset calls core functions
from ``qgap_assets.cycle`` and attaches metadata a person can read in the UI."""

import json
import pickle
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
import pandas as pd

from qgap_assets import cycle as core
from qgap_assets.defs import windows
from qgap_assets.defs.resources import CycleSettings, LedgerResource
from qgap_assets.ledger.provenance import code_hash
from qgap_assets.promotion.gates import INTEGRITY_GATES
from qgap_assets.research.evaluation import Evaluation
from qgap_assets.research.features import FeatureContract
from qgap_assets.defs.metadata import md_table
from qgap_assets.research.lane import feature_parity

GROUP = "autonomy_cycle"
CODE_VERSION = "cycle-v1"


# -- IO: large values travel as small references ------------------------------------------------
#
# Every cycle asset goes through ``cycle_io``: no per-step log lines of the filesystem IO manager
# (each one an event-log write), frames as references. Steps take the fewest inputs that carry
# what they need (``features`` carries its market and contract): each input edge costs two
# events per run, and lineage stays complete through the chain.


# Values of the current run, by (run id, asset key); the manager object may be rebuilt per step.
_IN_PROCESS: dict[tuple[str, tuple[str, ...]], Any] = {}


class CycleIOManager(dg.IOManager):
    """Stores market bars and features as small JSON references to the content-addressed dataset
    artifact (rebuilt, hash-checked, when another run or process loads them) and keeps the value
    itself in memory for the steps of the same run in this process (released when the run's
    resources are torn down); anything else is pickled like the default IO manager. Pickling
    multi-million-row frames between steps was most of Dagster's overhead over calling the core
    directly."""

    def __init__(self, base_dir: str | None) -> None:
        self.base_dir = base_dir

    def _path(self, key: tuple[str, ...], base: str) -> Path:
        return Path(self.base_dir or base) / "qgap_refs" / Path(*key)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        key = tuple(context.asset_key.path)
        path = self._path(key, context.step_context.instance.storage_directory())
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(obj, core.MarketData):
            payload = json.dumps(core.market_reference(obj)).encode()
        elif isinstance(obj, core.Prepared) and obj.market is not None:
            payload = json.dumps(core.prepared_reference(obj, obj.market)).encode()
        else:
            payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        path.write_bytes(payload)
        _IN_PROCESS[(context.run_id, key)] = obj

    def load_input(self, context: dg.InputContext) -> Any:
        key = tuple(context.upstream_output.asset_key.path)  # type: ignore[union-attr]
        hit = _IN_PROCESS.get((context.step_context.run_id, key))
        if hit is not None:
            return hit
        payload = self._path(key, context.instance.storage_directory()).read_bytes()
        if payload[:1] != b"{":
            return pickle.loads(payload)
        ref = json.loads(payload)
        return core.market_from_reference(ref) if ref["kind"] == "market" else \
            core.prepared_from_reference(ref)


@dg.io_manager(config_schema={"base_dir": dg.Field(str, is_required=False)})
def cycle_io_manager(init_context: dg.InitResourceContext):  # type: ignore[no-untyped-def]
    # Leftovers of a run that did not tear down (killed) go before this run allocates anything.
    for stale in [k for k in _IN_PROCESS if k[0] != init_context.run_id]:
        del _IN_PROCESS[stale]
    try:
        yield CycleIOManager(init_context.resource_config.get("base_dir"))
    finally:
        # The run (or, under a multiprocess executor, the step process) is over: release its
        # frames now, not when the next run starts. Held across runs they kept ~1 GB alive
        # while the next run allocated its own, which the next run paid for in page faults.
        for done in [k for k in _IN_PROCESS if k[0] == init_context.run_id]:
            del _IN_PROCESS[done]


def _market(prepared: core.Prepared) -> core.MarketData:
    """The market data a ``features`` value was computed from (always set by the asset)."""
    if prepared.market is None:
        raise ValueError("features without their market data: materialize market_bars first")
    return prepared.market


# Three steps materialize two assets each (multi-assets): the bars with the contract (both come
# straight from the cycle's settings), the walk-forward with the stress scenarios it scores (one
# computation), the gates with the decision taken on them (recorded together). Each asset keeps
# its own key, metadata, lineage and UI entry, and either can be materialized alone
# (``can_subset``); a step is ~26 ms of Dagster bookkeeping per run (bench/README.md).
def _out(description: str, **kwargs: Any) -> dg.AssetOut:
    return dg.AssetOut(group_name=GROUP, code_version=CODE_VERSION, io_manager_key="cycle_io",
                       description=description, is_required=False, **kwargs)


@dg.multi_asset(
    outs={"market_bars": _out(
              "Validated minute bars (file or seeded synthetic), kept in the artifact store under "
              "their canonical dataset hash; bars outside regular exchange sessions are counted "
              "and dropped.", kinds={"pandas"}),
          "feature_contract": _out(
              "The versioned feature contract shared by evaluation and the autonomous lane.")},
    can_subset=True)
def market_bars(context: AssetExecutionContext, settings: CycleSettings,
                ledger: LedgerResource):  # type: ignore[no-untyped-def]
    """The cycle's inputs: its market data and its feature contract."""
    cfg = settings.load()
    if "market_bars" in context.selected_output_names:
        market = core.load_market(cfg, settings.bars_file, ledger.store)
        yield dg.Output(market, output_name="market_bars",
                        data_version=dg.DataVersion(market.dataset_hash), metadata={
                            "dataset_hash": market.dataset_hash, "source": market.source,
                            "rows": len(market.bars), "symbols": int(market.bars["symbol"].nunique()),
                            "outside_session_dropped": market.outside_session,
                            "dataset_ref": market.dataset_ref})
    if "feature_contract" in context.selected_output_names:
        contract = core.feature_contract(cfg)
        yield dg.Output(contract, output_name="feature_contract",
                        data_version=dg.DataVersion(contract.hash()), metadata={
                            "name": contract.name, "version": contract.version,
                            "hash": contract.hash(), "features": ", ".join(contract.features),
                            "feature_lag": contract.feature_lag})


@dg.asset(group_name=GROUP, code_version=CODE_VERSION, io_manager_key="cycle_io")
def features(market_bars: core.MarketData, feature_contract: FeatureContract) -> dg.Output[core.Prepared]:
    """Momentum features over the session layout, computed by the one feature function."""
    prepared = core.prepare(market_bars.session_bars, feature_contract, market_bars)
    return dg.Output(prepared, metadata={"bars": prepared.layout.n_bars,
                                         "sessions": prepared.layout.n_sessions,
                                         "contract_hash": prepared.features.contract_hash})


@dg.multi_asset(
    outs={"fold_metrics": _out(
              "Walk-forward folds under the configured execution model: the grid chosen on each "
              "train part, scored on its test part; the signal -> decision -> trade funnel per "
              "fold and overall. The result is kept in the artifact store under its result hash."),
          "stress_metrics": _out(
              "Out-of-sample PnL under stress: cost x2/x3, spread x2, latency +1/+2 bars, best "
              "5 % of days dropped, high- and low-volatility halves (one ledger row per "
              "scenario).")},
    internal_asset_deps={"fold_metrics": {dg.AssetKey("features")},
                         "stress_metrics": {dg.AssetKey("fold_metrics")}},
    can_subset=True)
def fold_metrics(context: AssetExecutionContext, settings: CycleSettings, ledger: LedgerResource,
                 features: core.Prepared):  # type: ignore[no-untyped-def]
    """Walk-forward evaluation and its stress scenarios (one computation)."""
    ev = core.run_evaluation(_market(features), features, settings.load())
    if "fold_metrics" in context.selected_output_names:
        result_ref = core.store_result(ledger.store, ev)
        table = pd.DataFrame([{**{k: v for k, v in f.record().items() if k != "params"},
                               **f.params.as_dict()} for f in ev.folds])
        yield dg.Output(ev, output_name="fold_metrics", metadata={
            "folds": md_table(table), "selected_params": str(ev.params.as_dict()),
            "result_hash": ev.result_hash, "result_artifact": result_ref, "funnel": ev.funnel,
            "funnel_table": md_table(core.funnel_table(ev)),
            "funnel_note": ev.funnel_note or "-",
            "execution_model": f"{ev.execution_model.get('version')} "
                               f"{core.hash_obj(ev.execution_model)[:12]}"})
    if "stress_metrics" in context.selected_output_names:
        rows = [sc.record() for sc in ev.stress]
        yield dg.Output(rows, output_name="stress_metrics", metadata={
            "scenarios": md_table(pd.DataFrame(rows).drop(columns="details"))})


# Asset checks are declared on their assets (``check_specs``) and evaluated inside the asset's
# own step: the same blocking semantics as separate check steps (a failed ERROR check stops
# everything downstream), three step executions fewer per cycle.
@dg.asset(group_name=GROUP, code_version=CODE_VERSION, io_manager_key="cycle_io",
          check_specs=[dg.AssetCheckSpec(
              "feature_parity", asset="candidate_signals", blocking=True,
              description="Lane and walk-forward features are bitwise equal on the overlap.")])
def candidate_signals(settings: CycleSettings, fold_metrics: Evaluation,
                      features: core.Prepared):  # type: ignore[no-untyped-def]
    """The autonomous lane: the candidate's current signals and target positions on the latest
    session, computed by the same feature function (``features``' contract) and engine as
    walk-forward."""
    lane = core.run_lane(_market(features), features.contract, fold_metrics, settings.load())
    yield dg.Output(lane, metadata={
        "contract_hash": lane.contract_hash, "sessions": ", ".join(lane.session_dates),
        "params": str(lane.params.as_dict()),
        "signals": md_table(lane.signals.assign(timestamp=lane.signals["timestamp"].astype(str)))})
    res = feature_parity(features.layout, features.features, lane)
    yield dg.AssetCheckResult(check_name="feature_parity", passed=res.passed,
                              severity=dg.AssetCheckSeverity.ERROR,
                              metadata={k: v for k, v in res.as_dict().items()
                                        if k != "first_mismatches"}
                              | {"first_mismatches": json.dumps(res.first_mismatches)})


@dg.multi_asset(
    outs={"gate_results": _out(
              "Every gate, with the reproducibility replay (of the features' dataset artifact and "
              "contract) and the ledger's trial registry; value vs threshold and reason code for "
              "each. The stress gates read the scenarios of fold_metrics (the stress_metrics "
              "values)."),
          "promotion_decision": _out(
              "The decision, ledgered with the whole cycle in one transaction: granted or "
              "denied. The integrity checks report the recorded gates; a failed one blocks the "
              "manifest.")},
    internal_asset_deps={
        "gate_results": {dg.AssetKey("features"), dg.AssetKey("fold_metrics"),
                         dg.AssetKey("stress_metrics")},
        "promotion_decision": {dg.AssetKey("features"), dg.AssetKey("fold_metrics"),
                               dg.AssetKey("gate_results")}},
    deps=[dg.AssetKey("stress_metrics")],
    check_specs=[dg.AssetCheckSpec(name, asset="promotion_decision", blocking=True,
                                   description=f"Blocks the manifest unless the {name} gate passed.")
                 for name in INTEGRITY_GATES],
    can_subset=True)
def promotion_decision(context: AssetExecutionContext, settings: CycleSettings,
                       ledger: LedgerResource, features: core.Prepared,
                       fold_metrics: Evaluation):  # type: ignore[no-untyped-def]
    """The gates and the decision on them: the decision is a pure function of the gates and is
    recorded with them, so both assets are one step (the third multi-asset pair)."""
    cfg = settings.load()
    market = _market(features)
    repro = core.reproduce(ledger.store, market.dataset_ref, cfg, {
        "dataset_hash": market.dataset_hash, "feature_contract_hash": features.contract.hash(),
        "result_hash": fold_metrics.result_hash, "code_hash": code_hash()})
    ctx = core.ledger_context(ledger.ledger(), cfg.grid.strategy, fold_metrics)
    gates = core.evaluate_gates(fold_metrics, cfg, repro, ctx)
    if "gate_results" in context.selected_output_names:
        table = pd.DataFrame([{k: v for k, v in g.as_dict().items() if k != "details"}
                              for g in gates])
        yield dg.Output(gates, output_name="gate_results", metadata={
            "gates": md_table(table), "failed": [g.name for g in gates if not g.passed]})
    if "promotion_decision" not in context.selected_output_names:
        return
    outcome = core.decide_and_record(
        ledger.ledger(), run_id=core.new_run_id(), dagster_run_id=context.run.run_id,
        cfg=cfg, market=market, contract=features.contract, ev=fold_metrics, gates=gates)
    yield dg.Output(outcome, output_name="promotion_decision", metadata={
        "decision": outcome.decision, "reasons": list(outcome.reasons), "run_id": outcome.run_id,
        "record_hash": outcome.record_hash, "candidate_key": outcome.candidate_key})
    for name in INTEGRITY_GATES:
        gate = next(g for g in outcome.gates if g.name == name)
        yield dg.AssetCheckResult(asset_key="promotion_decision", check_name=name,
                                  passed=gate.passed, severity=dg.AssetCheckSeverity.ERROR,
                                  metadata={"value": gate.value, "threshold": gate.threshold,
                                            "reason_code": gate.reason_code or "",
                                            "details": gate.details})


@dg.asset(group_name=GROUP, code_version=CODE_VERSION, output_required=False,
          io_manager_key="cycle_io")
def paper_candidate_manifest(settings: CycleSettings, ledger: LedgerResource,
                             market_bars: core.MarketData, promotion_decision: core.CycleOutcome):  # type: ignore[no-untyped-def]
    """The content-addressed paper-candidate manifest; materializes only on promote."""
    if promotion_decision.decision != "promote":
        return
    path = core.publish_manifest(ledger.ledger(), ledger.store, promotion_decision,
                                 settings.load(), market_bars)
    yield dg.Output(path, metadata={"path": dg.MetadataValue.path(path),
                                    "candidate_key": promotion_decision.candidate_key})


cycle_assets = [market_bars, features, fold_metrics, promotion_decision,
                paper_candidate_manifest, candidate_signals]
cycle_checks: list[dg.AssetChecksDefinition] = []  # declared on the assets (check_specs)

autonomy_cycle_job = dg.define_asset_job(
    "autonomy_cycle",
    selection=dg.AssetSelection.assets(*cycle_assets),
    executor_def=dg.in_process_executor,
    description="One full autonomy cycle: bars -> features -> walk-forward -> gates -> decision.")

defs = dg.Definitions(assets=[*cycle_assets, *windows.window_assets], asset_checks=cycle_checks,
                      jobs=[autonomy_cycle_job, windows.replay_windows_job],
                      resources={"cycle_io": cycle_io_manager})
