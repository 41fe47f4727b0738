"""The canary's pure parts: orders from the decision rule, broker fills vs the simulator."""

from __future__ import annotations

import pytest

from qgap_assets.data.synthetic import generate_bars
from qgap_assets.promotion import canary as cn
from qgap_assets.promotion import lifecycle as lc
from qgap_assets.promotion.policy import LifecyclePolicy

PLAN = cn.CanaryPlan("k" * 64, "intraday-tsmom", 15, 0.001, 1.0, "datasets/x.parquet", "s" * 64)


@pytest.fixture(scope="module")
def bars():  # type: ignore[no-untyped-def]
    return generate_bars(3, 6, 11, 3.0, "2024-01-02", "XNYS")


def _verdict(bars, broker):  # type: ignore[no-untyped-def]
    session = cn.session_dates(bars)[-1]
    orders, expected, capital = cn.plan_session(PLAN, bars, session)
    report = broker.execute("run-1", orders)
    observed = cn.observe("run-1", orders, report, PLAN.cost_bps, capital)
    return orders, expected, observed, lc.evaluate_canary_run(
        observed, expected, cn.envelope(PLAN, bars, LifecyclePolicy()))


def test_simulated_paper_run_matches_the_backtest(bars) -> None:  # type: ignore[no-untyped-def]
    orders, expected, observed, verdict = _verdict(bars, cn.SimulatedBroker())
    assert orders and verdict.clean, verdict.details
    assert observed.pnl == pytest.approx(expected.pnl, abs=1e-9)
    # every symbol-session ends flat
    for sym in {o.symbol for o in orders}:
        assert sum(o.quantity for o in orders if o.symbol == sym) == 0


def test_slippage_and_partial_fills_are_critical_mismatches(bars) -> None:  # type: ignore[no-untyped-def]
    _, _, _, slipped = _verdict(bars, cn.SimulatedBroker(slippage_bps=2.0))
    assert slipped.critical and lc.Regression.PAPER_BACKTEST_MISMATCH in slipped.regressions
    _, _, _, partial = _verdict(bars, cn.SimulatedBroker(fill_ratio=0.5))
    assert lc.Regression.PAPER_BACKTEST_MISMATCH in partial.regressions


def test_router_broker_counts_errors_and_unfilled_orders(bars) -> None:  # type: ignore[no-untyped-def]
    def route(run_id, order, seq):  # type: ignore[no-untyped-def]
        return ("refused", 0.0, None) if seq == 0 else ("filled", abs(order.quantity),
                                                        order.market_price)
    orders, expected, observed, verdict = _verdict(bars, cn.RouterBroker(route))
    assert observed.orders_filled == len(orders) - 1 and observed.errors == 1
    assert lc.Regression.PAPER_BACKTEST_MISMATCH in verdict.regressions
