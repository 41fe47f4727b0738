"""The autonomy cycle's assets and blocking checks. Glue only: each asset calls core functions
from ``qgap_assets.cycle`` and attaches metadata a person can read in the UI."""


import dagster as dg
from dagster import AssetExecutionContext
import pandas as pd

from qgap_assets import cycle as core
from qgap_assets.defs.resources import CycleSettings, LedgerResource
from qgap_assets.ledger.provenance import code_hash
from qgap_assets.promotion.gates import GateResult, INTEGRITY_GATES
from qgap_assets.research.evaluation import Evaluation
from qgap_assets.research.features import FeatureContract

GROUP = "autonomy_cycle"
CODE_VERSION = "cycle-v1"


def _md_table(frame: pd.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.to_markdown(index=False))


@dg.asset(group_name=GROUP, code_version=CODE_VERSION, kinds={"pandas"})
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


@dg.asset(group_name=GROUP, code_version=CODE_VERSION)
def features(market_bars: core.MarketData, feature_contract: FeatureContract) -> dg.Output[core.Prepared]:
    """Momentum features over the session layout, computed by the one feature function."""
    prepared = core.prepare(market_bars.session_bars, feature_contract)
    return dg.Output(prepared, metadata={"bars": prepared.layout.n_bars,
                                         "sessions": prepared.layout.n_sessions,
                                         "contract_hash": prepared.features.contract_hash})


@dg.asset(group_name=GROUP, code_version=CODE_VERSION)
def fold_metrics(settings: CycleSettings, market_bars: core.MarketData,
                 features: core.Prepared) -> dg.Output[Evaluation]:
    """Walk-forward folds: the grid chosen on each train part, scored on its test part."""
    ev = core.run_evaluation(market_bars, features, settings.load())
    table = pd.DataFrame([{**{k: v for k, v in f.record().items() if k != "params"},
                           **f.params.as_dict()} for f in ev.folds])
    return dg.Output(ev, metadata={"folds": _md_table(table), "selected_params": str(ev.params.as_dict()),
                                   "result_hash": ev.result_hash, "funnel": ev.funnel})


@dg.asset(group_name=GROUP, code_version=CODE_VERSION)
def stress_metrics(fold_metrics: Evaluation) -> dg.Output[list[dict[str, object]]]:
    """Out-of-sample PnL under stressed assumptions (costs x2, x3)."""
    rows = [s.record() for s in fold_metrics.stress]
    return dg.Output(rows, metadata={"scenarios": _md_table(pd.DataFrame(rows).drop(columns="details"))})


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
    return dg.Output(gates, metadata={"gates": _md_table(table),
                                      "failed": [g.name for g in gates if not g.passed]})


@dg.asset(group_name=GROUP, code_version=CODE_VERSION)
def promotion_decision(context: AssetExecutionContext, settings: CycleSettings,
                       ledger: LedgerResource, market_bars: core.MarketData,
                       feature_contract: FeatureContract, fold_metrics: Evaluation,
                       gate_results: tuple) -> dg.Output[core.CycleOutcome]:
    """The decision, ledgered with the whole cycle in one transaction: granted or denied."""
    outcome = core.decide_and_record(
        ledger.ledger(), run_id=core.new_run_id(), dagster_run_id=context.run.run_id,
        cfg=settings.load(), market=market_bars, contract=feature_contract, ev=fold_metrics,
        gates=gate_results)
    return dg.Output(outcome, metadata={"decision": outcome.decision, "reasons": list(outcome.reasons),
                                        "run_id": outcome.run_id, "record_hash": outcome.record_hash,
                                        "candidate_key": outcome.candidate_key})


def _integrity_check(name: str):  # type: ignore[no-untyped-def]
    @dg.asset_check(asset=promotion_decision, name=name, blocking=True,
                    description=f"Blocks the manifest unless the {name} gate passed.")
    def _check(promotion_decision: core.CycleOutcome) -> dg.AssetCheckResult:
        gate = next(g for g in promotion_decision.gates if g.name == name)
        return dg.AssetCheckResult(passed=gate.passed, severity=dg.AssetCheckSeverity.ERROR,
                                   metadata={"value": gate.value, "threshold": gate.threshold,
                                             "reason_code": gate.reason_code or "",
                                             "details": gate.details})
    return _check


integrity_checks = [_integrity_check(name) for name in INTEGRITY_GATES]


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
                gate_results, promotion_decision, paper_candidate_manifest]

autonomy_cycle_job = dg.define_asset_job(
    "autonomy_cycle",
    selection=dg.AssetSelection.assets(*cycle_assets) | dg.AssetSelection.assets(
        "candidate_evidence", "advisory_review"),
    executor_def=dg.in_process_executor,
    description="One full autonomy cycle: bars -> features -> walk-forward -> gates -> decision.")

defs = dg.Definitions(assets=cycle_assets, asset_checks=integrity_checks, jobs=[autonomy_cycle_job])
