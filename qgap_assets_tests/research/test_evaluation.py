"""Walk-forward evaluation under the realistic engine: stress scenarios, funnel identities,
replay-window rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qgap_assets import cycle as core
from qgap_assets.config import CycleConfig, SyntheticMarket
from qgap_assets.data.bars import validate_bars
from qgap_assets.data.sessions import filter_regular_sessions
from qgap_assets.data.synthetic import generate_bars
from qgap_assets.research.evaluation import STRESS_SCENARIOS, evaluate
from qgap_assets.research.windows import window_dates


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    cfg = CycleConfig(synthetic=SyntheticMarket(symbols=4, days=24, seed=3))
    bars = filter_regular_sessions(validate_bars(generate_bars(4, 24, seed=3))).bars
    contract = core.feature_contract(cfg)
    prepared = core.prepare(bars, contract)
    return cfg, prepared, evaluate(prepared.layout, prepared.features, contract, cfg)


def test_every_stress_scenario_once_and_consistent(setup) -> None:  # type: ignore[no-untyped-def]
    _, _, ev = setup
    by = {s.scenario: s for s in ev.stress}
    assert tuple(by) == STRESS_SCENARIOS
    base = by["base"].pnl_total
    assert by["cost_x3"].pnl_total < by["cost_x2"].pnl_total < base
    assert by["spread_x2"].pnl_total < base
    n_drop = int(np.ceil(0.05 * ev.oos_pnl.size))
    assert by["drop_best_5pct_days"].pnl_total == pytest.approx(
        ev.oos_pnl.sum() - np.sort(ev.oos_pnl)[::-1][:n_drop].sum())
    assert by["high_vol_half"].pnl_total + by["low_vol_half"].pnl_total == pytest.approx(base)
    assert by["latency_plus_1"].details["extra_latency_bars"] == 1


def test_funnel_identities_per_fold_and_overall(setup) -> None:  # type: ignore[no-untyped-def]
    _, _, ev = setup
    for f in [*(fr.funnel for fr in ev.folds), ev.funnel]:
        assert f["bars"] == (f["warmup"] + f["data_stale"] + f["below_threshold"]
                             + f["no_next_bar"] + f["signals"])
        assert f["signals"] == f["hysteresis_hold"] + f["risk_block"] + f["decisions"]
        assert f["orders"] == f["decisions"] + f["session_flattens"]
        assert f["fills"] == f["full_fills"] + f["partial_fills"] == f["trades"]
    for key in ("signals", "decisions", "trades", "bars"):
        assert ev.funnel[key] == sum(fr.funnel[key] for fr in ev.folds)
    assert [fr.decisions for fr in ev.folds] == [fr.funnel["decisions"] for fr in ev.folds]


def test_execution_model_is_part_of_the_result(setup) -> None:  # type: ignore[no-untyped-def]
    cfg, prepared, ev = setup
    assert ev.execution_model == cfg.execution_model().canonical()
    assert ev.execution_model["fee_bps"] == cfg.grid.cost_bps
    other = cfg.model_copy(update={"execution": cfg.execution.model_copy(update={"latency_bars": 1})})
    ev2 = evaluate(prepared.layout, prepared.features, prepared.contract, other)
    assert ev2.result_hash != ev.result_hash


def test_funnel_note_explains_signals_without_decisions(setup) -> None:  # type: ignore[no-untyped-def]
    cfg, prepared, _ = setup
    blocked = cfg.model_copy(update={"execution": cfg.execution.model_copy(
        update={"max_orders_per_session": 0, "latency_bars": 400})})
    ev = evaluate(prepared.layout, prepared.features, prepared.contract, blocked)
    assert ev.funnel["decisions"] == 0
    # with a latency longer than the session no signal can reach the market
    assert ev.funnel["no_next_bar"] > 0 and ev.funnel["signals"] == 0
    assert "zero signals" in ev.funnel_note


def test_window_rule_takes_the_top_or_bottom_quarter() -> None:
    dates = pd.Index(np.arange("2024-01-01", "2024-01-09", dtype="datetime64[D]"), name="date")
    stats = pd.DataFrame({"realized_vol": [5, 1, 7, 3, 8, 2, 6, 4.0],
                          "efficiency": [0.1, 0.9, 0.5, 0.5, 0.2, 0.8, 0.3, 0.4]}, index=dates)
    assert [str(d) for d in window_dates(stats, "high_vol")] == ["2024-01-03", "2024-01-05"]
    assert [str(d) for d in window_dates(stats, "low_vol")] == ["2024-01-02", "2024-01-06"]
    assert [str(d) for d in window_dates(stats, "trending")] == ["2024-01-02", "2024-01-06"]
    assert [str(d) for d in window_dates(stats, "choppy")] == ["2024-01-01", "2024-01-05"]
    with pytest.raises(KeyError):
        window_dates(stats, "sideways")


def test_explain_funnel_names_the_blocking_counter() -> None:
    from qgap_assets.research.evaluation import explain_funnel

    note = explain_funnel({"bars": 10, "signals": 4, "hysteresis_hold": 1, "risk_block": 3,
                           "decisions": 0, "fills": 0})
    assert "zero decisions" in note and "risk_block=3" in note and "hysteresis_hold=1" in note
    note = explain_funnel({"bars": 10, "signals": 4, "decisions": 2, "fills": 0,
                           "ioc_cancelled": 2, "session_end_cancel": 0, "participation_cap": 2})
    assert "zero fills" in note and "ioc_cancelled=2" in note
    assert explain_funnel({"bars": 10, "signals": 4, "decisions": 2, "fills": 3}) == ""
