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


# Values of the current run, by (run id, asset key): the manager object is rebuilt per step.
_IN_PROCESS: dict[tuple[str, tuple[str, ...]], Any] = {}


class CycleIOManager(dg.IOManager):
    """Stores market bars and features as small JSON references to the content-addressed dataset
    artifact (rebuilt, hash-checked, when another run or process loads them) and keeps the value
    itself in memory for the steps of the same run in this process (only the latest run's:
    a new run releases the previous run's frames when it first builds the manager); anything
    else is pickled
    like the default IO manager. Pickling multi-million-row frames between steps was most of
    Dagster's overhead over calling the core directly."""

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
def cycle_io_manager(init_context: dg.InitResourceContext) -> CycleIOManager:
    # A new run releases the previous run's frames before its first step allocates new ones.
    for stale in [k for k in _IN_PROCESS if k[0] != init_context.run_id]:
        del _IN_PROCESS[stale]
    return CycleIOManager(init_context.resource_config.get("base_dir"))


@dg.asset(group_name=GROUP, code_version=CODE_VERSION, kinds={"pandas"}, io_manager_key="cycle_io")
def market_bars(settings: CycleSettings, ledger: LedgerResource) -> dg.Output[core.MarketData]:
    """Validated minute bars (file or seeded synthetic), kept in the artifact store under their
    canonical dataset hash; bars outside regular exchange sessions are counted and dropped."""
    market = core.load_market(settings.load(), settings.bars_file, ledger.store)
    return dg.Output(market, data_version=dg.DataVersion(market.dataset_hash), metadata={
        "dataset_hash": market.dataset_hash, "source": market.source,
        "rows": len(market.bars), "symbols": int(market.bars["symbol"].nunique()),
        "outside_session_dropped": market.outside_session, "dataset_ref": market.dataset_ref})


@dg.asset(group_name=GROUP, code_version=CODE_VERSION)
def feature_contract(settings: CycleSettings) -> dg.Output[FeatureContract]:
    """The versioned feature contract shared by evaluation and the autonomous lane."""
    contract = core.feature_contract(settings.load())
    return dg.Output(contract, data_version=dg.DataVersion(contract.hash()), metadata={
        "name": contract.name, "version": contract.version, "hash": contract.hash(),
        "features": ", ".join(contract.features), "feature_lag": contract.feature_lag})


@dg.asset(group_name=GROUP, code_version=CODE_VERSION, io_manager_key="cycle_io")
def features(market_bars: core.MarketData, feature_contract: FeatureContract) -> dg.Output[core.Prepared]:
    """Momentum features over the session layout, computed by the one feature function."""
    prepared = core.prepare(market_bars.session_bars, feature_contract, market_bars)
    return dg.Output(prepared, metadata={"bars": prepared.layout.n_bars,
                                         "sessions": prepared.layout.n_sessions,
                                         "contract_hash": prepared.features.contract_hash})


@dg.asset(group_name=GROUP, code_version=CODE_VERSION)
def fold_metrics(settings: CycleSettings, ledger: LedgerResource, market_bars: core.MarketData,
                 features: core.Prepared) -> dg.Output[Evaluation]:
    """Walk-forward folds under the configured execution model: the grid chosen on each train
    part, scored on its test part; the signal -> decision -> trade funnel per fold and overall.
    The result is kept in the artifact store under its result hash."""
    ev = core.run_evaluation(market_bars, features, settings.load())
    result_ref = core.store_result(ledger.store, ev)
    table = pd.DataFrame([{**{k: v for k, v in f.record().items() if k != "params"},
                           **f.params.as_dict()} for f in ev.folds])
    return dg.Output(ev, metadata={
        "folds": md_table(table), "selected_params": str(ev.params.as_dict()),
        "result_hash": ev.result_hash, "result_artifact": result_ref, "funnel": ev.funnel,
        "funnel_table": md_table(core.funnel_table(ev)),
        "funnel_note": ev.funnel_note or "-",
        "execution_model": f"{ev.execution_model.get('version')} "
                           f"{core.hash_obj(ev.execution_model)[:12]}"})


@dg.asset(group_name=GROUP, code_version=CODE_VERSION)
def stress_metrics(fold_metrics: Evaluation) -> dg.Output[list[dict[str, object]]]:
    """Out-of-sample PnL under stress: cost x2/x3, spread x2, latency +1/+2 bars, best 5 % of
    days dropped, high- and low-volatility halves (one ledger row per scenario)."""
    rows = [s.record() for s in fold_metrics.stress]
    return dg.Output(rows, metadata={"scenarios": md_table(pd.DataFrame(rows).drop(columns="details"))})


# Asset checks are declared on their assets (``check_specs``) and evaluated inside the asset's
# own step: the same blocking semantics as separate check steps (a failed ERROR check stops
# everything downstream), three step executions fewer per cycle.
@dg.asset(group_name=GROUP, code_version=CODE_VERSION, check_specs=[dg.AssetCheckSpec(
    "feature_parity", asset="candidate_signals", blocking=True,
    description="Lane and walk-forward features are bitwise equal on the overlap.")])
def candidate_signals(settings: CycleSettings, market_bars: core.MarketData,
                      feature_contract: FeatureContract, fold_metrics: Evaluation,
                      features: core.Prepared):  # type: ignore[no-untyped-def]
    """The autonomous lane: the candidate's current signals and target positions on the latest
    session, computed by the same feature function and engine as walk-forward."""
    lane = core.run_lane(market_bars, feature_contract, fold_metrics, settings.load())
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


@dg.asset(group_name=GROUP, code_version=CODE_VERSION)
def gate_results(settings: CycleSettings, ledger: LedgerResource, market_bars: core.MarketData,
                 feature_contract: FeatureContract, fold_metrics: Evaluation,
                 stress_metrics: list[dict[str, object]]) -> dg.Output[tuple]:  # tuple[GateResult, ...]
    """Every gate, with the reproducibility replay from the artifact store and the ledger's
    trial registry; value vs threshold and reason code for each."""
    cfg = settings.load()
    repro = core.reproduce(ledger.store, market_bars.dataset_ref, cfg, {
        "dataset_hash": market_bars.dataset_hash, "feature_contract_hash": feature_contract.hash(),
        "result_hash": fold_metrics.result_hash, "code_hash": code_hash()})
    ctx = core.ledger_context(ledger.ledger(), cfg.grid.strategy, fold_metrics)
    gates = core.evaluate_gates(fold_metrics, cfg, repro, ctx)
    table = pd.DataFrame([{k: v for k, v in g.as_dict().items() if k != "details"} for g in gates])
    return dg.Output(gates, metadata={"gates": md_table(table),
                                      "failed": [g.name for g in gates if not g.passed]})


@dg.asset(group_name=GROUP, code_version=CODE_VERSION, check_specs=[
    dg.AssetCheckSpec(name, asset="promotion_decision", blocking=True,
                      description=f"Blocks the manifest unless the {name} gate passed.")
    for name in INTEGRITY_GATES])
def promotion_decision(context: AssetExecutionContext, settings: CycleSettings,
                       ledger: LedgerResource, market_bars: core.MarketData,
                       feature_contract: FeatureContract, fold_metrics: Evaluation,
                       gate_results: tuple):  # type: ignore[no-untyped-def]
    """The decision, ledgered with the whole cycle in one transaction: granted or denied. The
    integrity checks report the recorded gates; a failed one blocks the manifest."""
    outcome = core.decide_and_record(
        ledger.ledger(), run_id=core.new_run_id(), dagster_run_id=context.run.run_id,
        cfg=settings.load(), market=market_bars, contract=feature_contract, ev=fold_metrics,
        gates=gate_results)
    yield dg.Output(outcome, metadata={"decision": outcome.decision, "reasons": list(outcome.reasons),
                                       "run_id": outcome.run_id, "record_hash": outcome.record_hash,
                                       "candidate_key": outcome.candidate_key})
    for name in INTEGRITY_GATES:
        gate = next(g for g in outcome.gates if g.name == name)
        yield dg.AssetCheckResult(check_name=name, passed=gate.passed,
                                  severity=dg.AssetCheckSeverity.ERROR,
                                  metadata={"value": gate.value, "threshold": gate.threshold,
                                            "reason_code": gate.reason_code or "",
                                            "details": gate.details})


@dg.asset(group_name=GROUP, code_version=CODE_VERSION, output_required=False)
def paper_candidate_manifest(settings: CycleSettings, ledger: LedgerResource,
                             market_bars: core.MarketData, promotion_decision: core.CycleOutcome):  # type: ignore[no-untyped-def]
    """The content-addressed paper-candidate manifest; materializes only on promote."""
    if promotion_decision.decision != "promote":
        return
    path = core.publish_manifest(ledger.ledger(), ledger.store, promotion_decision,
                                 settings.load(), market_bars)
    yield dg.Output(path, metadata={"path": dg.MetadataValue.path(path),
                                    "candidate_key": promotion_decision.candidate_key})


cycle_assets = [market_bars, feature_contract, features, fold_metrics, stress_metrics,
                gate_results, promotion_decision, paper_candidate_manifest, candidate_signals]
cycle_checks: list[dg.AssetChecksDefinition] = []  # declared on the assets (check_specs)

autonomy_cycle_job = dg.define_asset_job(
    "autonomy_cycle",
    selection=dg.AssetSelection.assets(*cycle_assets),
    executor_def=dg.in_process_executor,
    description="One full autonomy cycle: bars -> features -> walk-forward -> gates -> decision.")

defs = dg.Definitions(assets=[*cycle_assets, *windows.window_assets], asset_checks=cycle_checks,
                      jobs=[autonomy_cycle_job, windows.replay_windows_job],
                      resources={"cycle_io": cycle_io_manager})
