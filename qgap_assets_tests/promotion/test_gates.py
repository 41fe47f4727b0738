"""Gates on one real evaluation: sub-check reason codes, the publication window (pure and
against the ledger on SQLite and PostgreSQL), the policy file and its hash."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from qgap_assets import cycle as core
from qgap_assets.errors import ConfigError
from qgap_assets.ledger.provenance import code_hash
from qgap_assets.ledger.repository import Ledger
from qgap_assets.promotion.decision import decide
from qgap_assets.promotion.gates import (GATE_ORDER, LedgerContext, PUBLICATION_WINDOW_OPEN,
                                         evaluate_gates, null_trial_variance, sessions_between)
from qgap_assets.promotion.policy import GatePolicy, load_gate_policy, policy_hash
from qgap_assets.promotion.window import candidate_key, evidence_streak, with_publication_window
from qgap_assets_tests.promotion.support import tiny_config


def _evidence(home: Path, edge: float, cfg=None):  # type: ignore[no-untyped-def]
    """Market, contract, evaluation and reproducibility replay of one tiny cycle."""
    cfg = cfg or tiny_config(edge=edge)
    store = core.artifact_store(home)
    market = core.load_market(cfg, None, store)
    contract = core.feature_contract(cfg)
    ev = core.run_evaluation(market, core.prepare(market.session_bars, contract), cfg)
    repro = core.reproduce(store, market.dataset_ref, cfg, {
        "dataset_hash": market.dataset_hash, "feature_contract_hash": contract.hash(),
        "result_hash": ev.result_hash, "code_hash": code_hash()})
    ctx = LedgerContext(len(ev.trials), tuple(t.sharpe_per_period for t in ev.trials))
    return cfg, market, contract, ev, repro, ctx


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One evaluation of the tiny planted-edge market, with its reproducibility replay."""
    return _evidence(tmp_path_factory.mktemp("home"), 3.0)


@pytest.fixture(scope="module")
def no_edge(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return _evidence(tmp_path_factory.mktemp("home0"), 0.0)


def _gates(evidence, **policy):  # type: ignore[no-untyped-def]
    cfg, _, _, ev, repro, ctx = evidence
    cfg = cfg.model_copy(update={"gates": GatePolicy(**policy)})
    return {g.name: g for g in evaluate_gates(ev, cfg, repro, ctx)}


def test_default_policy_promotes_the_first_cycle(evidence) -> None:  # type: ignore[no-untyped-def]
    gates = _gates(evidence)
    assert tuple(gates) == GATE_ORDER and all(g.passed for g in gates.values())
    w = gates["publication_window"].details
    assert (w["cycles"], w["sessions"], w["missing_cycles"]) == (1, 0, 0)


@pytest.mark.parametrize("policy, gate, code", [
    ({"min_worst_fold_sharpe": 1e6}, "fold_stability", "worst_fold_sharpe_below_minimum"),
    ({"max_fold_sharpe_dispersion": 1e-9}, "fold_stability", "fold_sharpe_dispersion_exceeds_maximum"),
    ({"min_positive_fold_share": 1.0 + 0.0, "min_worst_fold_sharpe": 1e6}, "fold_stability",
     "worst_fold_sharpe_below_minimum"),
    ({"max_gross_exposure": 0.5}, "risk", "gross_exposure_exceeds_maximum"),
    ({"max_daily_turnover": 1e-9}, "risk", "turnover_exceeds_maximum"),
    ({"min_dsr": 1.0}, "deflated_sharpe", "dsr_below_minimum"),
])
def test_each_sub_check_fails_with_its_reason(evidence, policy, gate, code) -> None:  # type: ignore[no-untyped-def]
    gates = _gates(evidence, **policy)
    assert not gates[gate].passed and code in gates[gate].details["reason_codes"]
    decision = decide(tuple(gates.values()))
    assert decision.decision == "deny" and code in decision.reasons
    # the window only opens on passing evidence: it names the missing cycle too
    assert decision.reasons[-1] == PUBLICATION_WINDOW_OPEN


def test_drawdown_and_worst_day_on_a_losing_market(no_edge) -> None:  # type: ignore[no-untyped-def]
    gates = _gates(no_edge, max_drawdown_share=1e-6, max_worst_day_loss_share=1e-6)
    risk = gates["risk"]
    assert not risk.passed and risk.reason_code == "drawdown_exceeds_maximum"
    assert risk.details["reason_codes"][:2] == ["drawdown_exceeds_maximum",
                                                "worst_day_loss_exceeds_maximum"]
    assert risk.value == pytest.approx(risk.details["max_drawdown_pnl"] / risk.details["capital"])
    reasons = decide(tuple(gates.values())).reasons
    assert {"dsr_below_minimum", "psr_below_minimum", "oos_sharpe_below_minimum"} <= set(reasons)


def test_publication_window_non_default_values(evidence) -> None:  # type: ignore[no-untyped-def]
    cfg, _, _, ev, repro, ctx = evidence
    pol = GatePolicy(min_cycles=3, min_sessions=4)
    cfg = cfg.model_copy(update={"gates": pol})
    last = ev.oos_dates[-1]

    first = {g.name: g for g in evaluate_gates(ev, cfg, repro, ctx)}["publication_window"]
    assert not first.passed and first.reason_code == PUBLICATION_WINDOW_OPEN
    assert (first.details["missing_cycles"], first.details["missing_sessions"]) == (2, 4)

    # two earlier passing cycles whose streak began 2 sessions before this one's last session
    two_back = ev.oos_dates[-3]
    assert sessions_between(two_back, last) == 2
    mid = replace(ctx, window_prior_cycles=2, window_first_session=two_back)
    g = {x.name: x for x in evaluate_gates(ev, cfg, repro, mid)}["publication_window"]
    assert not g.passed and (g.details["missing_cycles"], g.details["missing_sessions"]) == (0, 2)

    enough = replace(ctx, window_prior_cycles=2, window_first_session=ev.oos_dates[-5])
    gates = evaluate_gates(ev, cfg, repro, enough)
    assert all(x.passed for x in gates) and decide(gates).decision == "promote"


def test_window_counts_only_passing_evidence(evidence) -> None:  # type: ignore[no-untyped-def]
    cfg, _, _, ev, repro, ctx = evidence
    long_streak = replace(ctx, window_prior_cycles=10, window_first_session=ev.oos_dates[0])
    bad = cfg.model_copy(update={"gates": GatePolicy(min_oos_sharpe=1e9)})
    w = {g.name: g for g in evaluate_gates(ev, bad, repro, long_streak)}["publication_window"]
    assert not w.passed and w.details["cycles"] == 0 and not w.details["evidence_passed_now"]


def test_window_streak_from_the_ledger(engine: Engine, tmp_path: Path) -> None:
    """min_cycles=2: the first cycle is denied (window open, 1 cycle missing); the ledger then
    holds one passing cycle, and the second cycle on the same evidence is promoted."""
    cfg = tiny_config(gates=GatePolicy(min_cycles=2))
    ledger = Ledger(engine)
    _, market, contract, ev, repro, _ = _evidence(tmp_path, 3.0, cfg)

    def attempt() -> core.CycleOutcome:
        ctx = with_publication_window(core.ledger_context(ledger, cfg.grid.strategy, ev), engine,
                                      cfg.grid.strategy, ev.contract_hash, ev.params.as_dict())
        gates = evaluate_gates(ev, cfg, repro, ctx)
        return core.decide_and_record(ledger, run_id=core.new_run_id(), dagster_run_id=None,
                                      cfg=cfg, market=market, contract=contract, ev=ev, gates=gates)

    first = attempt()
    assert first.decision == "deny" and first.reasons == (PUBLICATION_WINDOW_OPEN,)
    window = next(g for g in first.gates if g.name == "publication_window")
    assert window.details["missing_cycles"] == 1
    key = candidate_key(cfg.grid.strategy, ev.contract_hash, ev.params.as_dict())
    assert key == first.candidate_key
    streak = evidence_streak(engine, cfg.grid.strategy, ev.contract_hash, key)
    assert streak.prior_cycles == 1 and streak.first_session == ev.oos_dates[-1]
    assert attempt().decision == "promote"
    assert evidence_streak(engine, cfg.grid.strategy, ev.contract_hash, "0" * 64).prior_cycles == 0


def test_null_trial_variance_is_capped_by_the_sampling_variance() -> None:
    assert null_trial_variance((0.0, 10.0, -10.0), 51) == pytest.approx(1 / 50)
    assert null_trial_variance((0.01, 0.02, 0.03), 51) == pytest.approx(1e-4)
    assert null_trial_variance((0.5,), 51) == 0.0


def test_policy_file_round_trip_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"version": "gates-x", "min_cycles": 3,
                                "lifecycle": {"canary_runs": 7}}))
    pol = load_gate_policy(path)
    assert (pol.min_cycles, pol.lifecycle.canary_runs) == (3, 7)
    assert policy_hash(pol) != policy_hash(GatePolicy()) and len(policy_hash(pol)) == 64
    yaml_path = tmp_path / "policy.yaml"
    yaml_path.write_text("min_cycles: 3\nversion: gates-x\nlifecycle:\n  canary_runs: 7\n")
    assert policy_hash(load_gate_policy(yaml_path)) == policy_hash(pol)
    path.write_text(json.dumps({"min_cycle": 3}))
    with pytest.raises(ConfigError, match="min_cycle"):
        load_gate_policy(path)
