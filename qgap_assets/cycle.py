"""One autonomy cycle as plain functions: load -> features -> evaluate -> gates -> decide -> record.

The Dagster assets in ``defs/`` call these one at a time; :func:`run_cycle` chains them directly
(benchmarks use it to measure what Dagster adds). Nothing here imports Dagster.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qgap_assets.config import CycleConfig
from qgap_assets.data.bars import read_bars, validate_bars
from qgap_assets.data.sessions import SessionLayout, build_layout, filter_regular_sessions
from qgap_assets.data.synthetic import generate_bars
from qgap_assets.errors import InputValidationError, QgapError
from qgap_assets.ledger.artifacts import ArtifactStore, atomic_write
from qgap_assets.ledger.hashing import canonical_json, dataset_hash, hash_obj, utc_now_iso
from qgap_assets.ledger.provenance import code_hash, environment
from qgap_assets.ledger.repository import AppendResult, CycleRecord, Ledger
from qgap_assets.promotion.decision import Decision, decide
from qgap_assets.promotion.gates import (GateResult, LedgerContext, ReproducibilityResult,
                                         evaluate_gates)
from qgap_assets.promotion.window import candidate_key, with_publication_window
from qgap_assets.promotion.manifest import build_manifest, write_manifest
from qgap_assets.research import kernels, lane, windows
from qgap_assets.research.metrics import max_drawdown, sharpe_annualised
from qgap_assets.research.windows import market_day_stats, window_dates
from qgap_assets.research.backtest import contract_for_grid
from qgap_assets.research.lane import LaneResult
from qgap_assets.research.evaluation import Evaluation, evaluate, funnel_counts
from qgap_assets.research.features import FeatureContract, FeatureSet, compute_features

# The default configuration's execution model (canonical dict). A run records ITS configured
# model via :func:`execution_model_record`; this constant is the default's, for readers that
# have no config at hand.
EXECUTION_MODEL = CycleConfig().execution_model().canonical()


def execution_model_record(cfg: CycleConfig) -> dict[str, Any]:
    """The configured execution model's canonical dict (version + every assumption)."""
    return cfg.execution_model().canonical()


@dataclass(frozen=True)
class MarketData:
    bars: pd.DataFrame          # validated input bars, as given
    dataset_hash: str
    dataset_ref: str            # artifact path (relative to the artifact root)
    source: str
    session_bars: pd.DataFrame  # bars inside regular exchange sessions
    outside_session: int
    calendar: str = "XNYS"
    dataset_path: str = ""      # absolute path of the dataset artifact (rebuilds from a reference)


@dataclass(frozen=True)
class Prepared:
    layout: SessionLayout
    contract: FeatureContract
    features: FeatureSet
    market: MarketData | None = None  # where the layout came from (for a small reference)


def new_run_id() -> str:
    return uuid.uuid4().hex


def artifact_store(home: Path) -> ArtifactStore:
    return ArtifactStore(home / "artifacts")


def store_dataset(store: ArtifactStore, bars: pd.DataFrame, digest: str) -> str:
    """Keep the input dataset, named by its canonical dataset hash (not the file bytes)."""
    ref = f"datasets/{digest}.parquet"
    path = store.path_of(ref)
    if not path.exists():
        buf = io.BytesIO()
        bars.to_parquet(buf, index=False)
        atomic_write(path, buf.getvalue())
    return ref


def load_market(cfg: CycleConfig, bars_path: str | None, store: ArtifactStore) -> MarketData:
    if bars_path:
        bars = read_bars(bars_path)
        source = str(bars_path)
    else:
        s = cfg.synthetic
        bars = validate_bars(generate_bars(s.symbols, s.days, s.seed, s.edge, s.start, s.calendar),
                             source="synthetic generator")
        source = f"synthetic(symbols={s.symbols}, days={s.days}, seed={s.seed}, edge={s.edge})"
    digest = dataset_hash(bars)
    ref = store_dataset(store, bars, digest)
    filtered = filter_regular_sessions(bars, cfg.calendar)
    return MarketData(bars, digest, ref, source, filtered.bars, filtered.outside_session,
                      cfg.calendar, str(store.path_of(ref).resolve()))


# -- small references for large values (what the Dagster IO manager stores between steps) -----

def market_reference(market: MarketData) -> dict[str, Any]:
    return {"kind": "market", "dataset_hash": market.dataset_hash, "dataset_ref": market.dataset_ref,
            "dataset_path": market.dataset_path, "source": market.source,
            "calendar": market.calendar}


def market_from_reference(ref: dict[str, Any]) -> MarketData:
    """Rebuild market data from its content-addressed dataset artifact (hash-checked)."""
    bars = validate_bars(pd.read_parquet(ref["dataset_path"]), source=f"artifact {ref['dataset_ref']}")
    if dataset_hash(bars) != ref["dataset_hash"]:
        raise QgapError(f"dataset artifact {ref['dataset_ref']} no longer matches its hash")
    filtered = filter_regular_sessions(bars, ref["calendar"])
    return MarketData(bars, ref["dataset_hash"], ref["dataset_ref"], ref["source"], filtered.bars,
                      filtered.outside_session, ref["calendar"], ref["dataset_path"])


def prepared_reference(prepared: Prepared, market: MarketData) -> dict[str, Any]:
    return {"kind": "prepared", "market": market_reference(market),
            "contract": asdict(prepared.contract), "contract_hash": prepared.contract.hash()}


def prepared_from_reference(ref: dict[str, Any]) -> Prepared:
    market = market_from_reference(ref["market"])
    fields = {**ref["contract"], "lookbacks": tuple(ref["contract"]["lookbacks"])}
    return prepare(market.session_bars, FeatureContract(**fields), market)


def feature_contract(cfg: CycleConfig) -> FeatureContract:
    return contract_for_grid(cfg.grid.lookbacks, cfg.grid.feature_lag)


def prepare(session_bars: pd.DataFrame, contract: FeatureContract,
            market: MarketData | None = None) -> Prepared:
    layout = build_layout(session_bars)
    return Prepared(layout, contract, compute_features(layout, contract), market)


def run_evaluation(market: MarketData, prepared: Prepared, cfg: CycleConfig) -> Evaluation:
    return evaluate(prepared.layout, prepared.features, prepared.contract, cfg, market.outside_session)


def funnel_table(ev: Evaluation) -> pd.DataFrame:
    """The funnel as rows (stage/drop reason) x columns (each fold, all folds)."""
    cols = {f"fold {f.index}": f.funnel for f in ev.folds}
    cols["all folds"] = ev.funnel
    keys = list(ev.funnel)
    return pd.DataFrame({"counter": keys, **{c: [v.get(k, 0) for k in keys] for c, v in cols.items()}})


def run_lane(market: MarketData, contract: FeatureContract, ev: Evaluation, cfg: CycleConfig,
             n_sessions: int = 1) -> LaneResult:
    """The autonomous lane for the evaluated candidate on the latest session(s)."""
    return lane.run_lane(market.session_bars, contract, ev.params, cfg.execution_model(), n_sessions)


def window_report(prepared: Prepared, ev: Evaluation, window: str) -> dict[str, Any]:
    """The candidate's replay on one named window (rule in ``research/windows.py``): daily PnL,
    Sharpe, drawdown and the funnel on the window's dates. The parameters are the candidate's
    (chosen on all sessions), so this is a regime breakdown, not out-of-sample evidence."""
    layout = prepared.layout
    day_stats = market_day_stats(layout)
    chosen = window_dates(day_stats, window)
    all_dates = layout.dates()
    mask = np.isin(all_dates, chosen)
    daily = ev.candidate_daily[mask]
    pnl = daily[:, kernels.R_PNL]
    bars = int(np.diff(layout.offsets)[np.isin(layout.session_date, chosen)].sum())
    return {"window": window, "rule": windows.rule_text(window),
            "dates": [str(d) for d in chosen], "days": int(mask.sum()),
            "params": ev.params.as_dict(), "result_hash": ev.result_hash,
            "execution_model_hash": hash_obj(ev.execution_model),
            "pnl_total": float(pnl.sum()), "return_on_capital": float(pnl.sum() / ev.capital),
            "sharpe": sharpe_annualised(pnl), "max_drawdown": max_drawdown(pnl),
            "mean_realized_vol": float(day_stats.loc[chosen, "realized_vol"].mean()),
            "mean_efficiency": float(day_stats.loc[chosen, "efficiency"].mean()),
            "funnel": funnel_counts(daily.sum(axis=0), bars)}


def reproduce(store: ArtifactStore, dataset_ref: str, cfg: CycleConfig, expected: dict[str, str]
              ) -> ReproducibilityResult:
    """Replay the evaluation from the recorded inputs alone; compare every hash bitwise."""
    path = store.path_of(dataset_ref)
    observed: dict[str, str] = {"code_hash": code_hash()}
    if not path.is_file():
        observed["dataset_hash"] = "missing"
    else:
        raw = pd.read_parquet(path)
        observed["dataset_hash"] = dataset_hash(raw)
        if observed["dataset_hash"] == expected.get("dataset_hash"):
            bars = raw  # bitwise the dataset that was validated (and sorted) when recorded
        else:
            try:
                bars = validate_bars(raw, source=f"artifact {dataset_ref}")
            except InputValidationError:
                observed["result_hash"] = "unreadable"
                return ReproducibilityResult(False, tuple(k for k in expected
                                                          if observed.get(k) != expected[k]),
                                             dict(expected), observed)
        del raw
        contract = feature_contract(cfg)
        observed["feature_contract_hash"] = contract.hash()
        filtered = filter_regular_sessions(bars, cfg.calendar)
        prepared = prepare(filtered.bars, contract)
        ev = evaluate(prepared.layout, prepared.features, contract, cfg, filtered.outside_session)
        observed["result_hash"] = ev.result_hash
    mismatches = tuple(k for k in expected if observed.get(k) != expected[k])
    return ReproducibilityResult(not mismatches, mismatches, dict(expected), observed)


def ledger_context(ledger: Ledger, strategy: str, ev: Evaluation) -> LedgerContext:
    """The trial registry: every distinct parameter set ever evaluated for this strategy and
    contract, this cycle's grid included, so repeated searching raises the deflated-Sharpe bar."""
    prior = ledger.trial_params_hashes(strategy, ev.contract_hash)
    current = {hash_obj(t.params.as_dict()) for t in ev.trials}
    sharpes = tuple(ledger.trial_sharpes(strategy, ev.contract_hash)) + tuple(
        t.sharpe_per_period for t in ev.trials)
    # The publication window: how long this candidate's passing evidence has stood in the ledger.
    return with_publication_window(LedgerContext(len(prior | current), sharpes), ledger.engine,
                                   strategy, ev.contract_hash, ev.params.as_dict())


def build_record(*, run_id: str, dagster_run_id: str | None, cfg: CycleConfig, market: MarketData,
                 contract: FeatureContract, ev: Evaluation, gates: tuple[GateResult, ...],
                 decision: Decision) -> CycleRecord:
    strategy = cfg.grid.strategy
    params = ev.params.as_dict()
    key = candidate_key(strategy, contract.hash(), params)
    now = utc_now_iso()
    run = {
        "run_id": run_id, "created_at": now, "strategy": strategy,
        "feature_contract_name": contract.name, "feature_contract_version": contract.version,
        "feature_contract_hash": contract.hash(), "dataset_hash": market.dataset_hash,
        "dataset_ref": market.dataset_ref, "code_hash": code_hash(),
        "params_json": canonical_json(params), "params_hash": hash_obj(params),
        "config_json": canonical_json(cfg.canonical()), "config_hash": cfg.hash(),
        "execution_model_version": cfg.execution_model().version,
        "execution_model_hash": cfg.execution_model().hash(),
        "gate_policy_version": cfg.gates.version, "gate_policy_hash": hash_obj(cfg.gates.model_dump()),
        "environment_json": canonical_json(environment()), "dagster_run_id": dagster_run_id,
        "result_hash": ev.result_hash, "funnel_json": canonical_json(ev.funnel),
    }
    folds = tuple({**{k: v for k, v in f.record().items() if k != "params"},
                   "params_json": canonical_json(f.params.as_dict())} for f in ev.folds)
    stress = tuple({"scenario": s.scenario, "pnl_total": s.pnl_total, "sharpe": s.sharpe,
                    "trades": s.trades, "details_json": canonical_json(s.details)} for s in ev.stress)
    gate_rows = tuple({"gate_order": i, "name": g.name, "passed": g.passed, "value": g.value,
                       "threshold": g.threshold, "reason_code": g.reason_code,
                       "details_json": canonical_json(g.details)} for i, g in enumerate(gates))
    trials = tuple({"strategy": strategy, "feature_contract_hash": contract.hash(),
                    "params_hash": hash_obj(t.params.as_dict()),
                    "params_json": canonical_json(t.params.as_dict()),
                    "sharpe": t.sharpe_per_period, "n_obs": t.n_obs} for t in ev.trials)
    attempt = {"attempt_id": uuid.uuid4().hex, "candidate_key": key, "decision": decision.decision,
               "reasons_json": canonical_json(list(decision.reasons)),
               "evidence_json": canonical_json({"result_hash": ev.result_hash,
                                                "result_ref": f"{ev.result_hash}.json",
                                                "dataset_hash": market.dataset_hash}),
               "created_at": now}
    contract_row = {"contract_hash": contract.hash(), "name": contract.name,
                    "version": contract.version, "spec_json": canonical_json(contract.spec()),
                    "created_at": now}
    return CycleRecord(run, folds, stress, gate_rows, trials, attempt, contract_row)


@dataclass(frozen=True)
class CycleOutcome:
    """What one cycle decided and recorded; the CLI's JSON is built from it."""

    run_id: str
    dagster_run_id: str | None
    decision: str
    reasons: tuple[str, ...]
    gates: tuple[GateResult, ...]
    manifest: str | None
    dataset_hash: str
    feature_contract_hash: str
    code_hash: str
    params: dict[str, Any]
    funnel: dict[str, int]
    candidate_key: str
    attempt_id: str
    record_hash: str
    funnel_note: str = ""  # why signals did not become decisions/trades, when they did not

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "dagster_run_id": self.dagster_run_id,
            "decision": self.decision, "reasons": list(self.reasons),
            "gates": [{k: v for k, v in g.as_dict().items() if k != "details"} for g in self.gates],
            "manifest": self.manifest, "dataset_hash": self.dataset_hash,
            "feature_contract_hash": self.feature_contract_hash, "code_hash": self.code_hash,
            "params": self.params, "funnel": self.funnel, "candidate_key": self.candidate_key,
            "attempt_id": self.attempt_id, "record_hash": self.record_hash,
            "funnel_note": self.funnel_note,
        }


def store_result(store: ArtifactStore, ev: Evaluation) -> str:
    """Keep the evaluation's result (folds, OOS track, stress, funnel, trials) as a JSON artifact.
    Its canonical JSON is exactly what ``result_hash`` hashes, so the file is named by the result
    hash itself: a run's results can be read back, and checked, from the ledger alone."""
    path = store.put_json(ev.result_content)
    if path.stem != ev.result_hash:  # the artifact store and the evaluation disagree on bytes
        raise QgapError(f"result artifact {path.name} does not hash to result {ev.result_hash}")
    return path.name


def decide_and_record(ledger: Ledger, *, run_id: str, dagster_run_id: str | None, cfg: CycleConfig,
                      market: MarketData, contract: FeatureContract, ev: Evaluation,
                      gates: tuple[GateResult, ...]) -> CycleOutcome:
    decision = decide(gates)
    record = build_record(run_id=run_id, dagster_run_id=dagster_run_id, cfg=cfg, market=market,
                          contract=contract, ev=ev, gates=gates, decision=decision)
    result: AppendResult = ledger.append_cycle(record)
    attempt = result.attempt
    return CycleOutcome(run_id, dagster_run_id, attempt["decision"],
                        tuple(json.loads(attempt["reasons_json"])), gates, None,
                        market.dataset_hash, contract.hash(), record.run["code_hash"],
                        ev.params.as_dict(), dict(ev.funnel), attempt["candidate_key"],
                        attempt["attempt_id"], result.record_hash, ev.funnel_note)


def publish_manifest(ledger: Ledger, store: ArtifactStore, outcome: CycleOutcome, cfg: CycleConfig,
                     market: MarketData) -> str:
    if outcome.decision != "promote":
        raise QgapError("a paper-candidate manifest is only written for a granted promotion")
    manifest = build_manifest(outcome, cfg, market.dataset_ref)
    path, sha = write_manifest(store, manifest)
    ledger.record_manifest(sha, outcome.run_id, outcome.attempt_id, outcome.candidate_key, str(path))
    return str(path)


def run_cycle(cfg: CycleConfig, bars_path: str | None, ledger: Ledger, home: Path,
              dagster_run_id: str | None = None) -> CycleOutcome:
    """The whole cycle without Dagster (benchmarks and library use)."""
    store = artifact_store(home)
    market = load_market(cfg, bars_path, store)
    contract = feature_contract(cfg)
    prepared = prepare(market.session_bars, contract, market)
    ev = run_evaluation(market, prepared, cfg)
    store_result(store, ev)
    lane.feature_parity(prepared.layout, prepared.features, run_lane(market, contract, ev, cfg))
    repro = reproduce(store, market.dataset_ref, cfg, {
        "dataset_hash": market.dataset_hash, "feature_contract_hash": contract.hash(),
        "result_hash": ev.result_hash, "code_hash": code_hash()})
    gates = evaluate_gates(ev, cfg, repro, ledger_context(ledger, cfg.grid.strategy, ev))
    outcome = decide_and_record(ledger, run_id=new_run_id(), dagster_run_id=dagster_run_id,
                                cfg=cfg, market=market, contract=contract, ev=ev, gates=gates)
    if outcome.decision == "promote":
        path = publish_manifest(ledger, store, outcome, cfg, market)
        outcome = replace(outcome, manifest=path)
    return outcome
