"""The frictionless simulator against the rules, by hand and against a plain-Python reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qgap_assets.data.synthetic import generate_bars
from qgap_assets.research.backtest import frictionless_backtest


def _bars(closes: list[float], opens: list[float], day: str = "2024-01-02", symbol: str = "AAA"):
    ts = pd.date_range(f"{day} 14:30", periods=len(closes), freq="1min", tz="UTC")
    return pd.DataFrame({"timestamp": ts, "symbol": symbol, "open": opens,
                         "high": np.maximum(opens, closes) + 0.5, "low": np.minimum(opens, closes) - 0.5,
                         "close": closes, "volume": 100.0})


def test_hand_computed_session_with_reversal_and_flatten() -> None:
    # L=1, theta=0.01. r[1]=+5% -> long, fills at open[2]=11 (qty +1).
    # r[2]=-10% -> short: one fill of -2 at open[3]=10. r[3] ~ +10% -> long: +2 at open[4]=12.
    # Bar 4 is last: no decision; flatten -1 at close[4]=12.
    closes = [10.0, 10.5, 9.45, 10.4, 12.0]
    opens = [10.0, 10.2, 11.0, 10.0, 12.0]
    res = frictionless_backtest(_bars(closes, opens), lookback=1, threshold=0.01, cost_bps=10.0)
    day = res.per_symbol["AAA"]
    assert day["trades"] == 4
    cash = -(1 * 11.0) - (-2 * 10.0) - (2 * 12.0) - (-1 * 12.0)
    cost = 10 / 1e4 * (11.0 + 2 * 10.0 + 2 * 12.0 + 12.0)
    assert day["pnl_by_day"]["2024-01-02"] == pytest.approx(cash - cost, abs=1e-12)
    assert list(res.fills["qty"]) == [1.0, -2.0, 2.0, -1.0]
    assert list(res.fills["price"]) == [11.0, 10.0, 12.0, 12.0]


def test_no_decision_at_last_bar_and_hysteresis_keeps_target() -> None:
    # r crosses only at the last bar: no trade at all.
    res = frictionless_backtest(_bars([10, 10, 10, 11.0], [10, 10, 10, 10.0]), 1, 0.01, 0.0)
    assert res.summary["trades"] == 0
    # Long after bar 1, then |r| <= theta keeps the target: one entry + one flatten.
    res = frictionless_backtest(_bars([10, 11, 11, 11, 11.0], [10, 10, 12, 12, 12.0]), 1, 0.01, 0.0)
    assert res.summary["trades"] == 2
    assert res.summary["pnl_total"] == pytest.approx(-12.0 + 11.0)


def _reference(bars: pd.DataFrame, L: int, theta: float, cost_bps: float) -> dict:
    """The rules, literally, in plain Python."""
    out: dict = {}
    local = bars["timestamp"].dt.tz_convert("America/New_York").dt.date
    for (sym, day), g in bars.assign(day=local).groupby(["symbol", "day"]):
        g = g.sort_values("timestamp")
        o, c = g["open"].to_list(), g["close"].to_list()
        n, pos, tgt, pnl, fills = len(g), 0, 0, 0.0, 0

        def fill(q: float, px: float) -> float:
            return -q * px - cost_bps / 1e4 * abs(q) * px

        for i in range(L, n - 1):
            r = c[i] / c[i - L] - 1.0
            tgt = 1 if r > theta else (-1 if r < -theta else tgt)
            if tgt != pos:
                pnl += fill(tgt - pos, o[i + 1])
                fills += 1
                pos = tgt
        if pos != 0:
            pnl += fill(-pos, c[n - 1])
            fills += 1
        e = out.setdefault(sym, {"trades": 0, "pnl_by_day": {}})
        e["trades"] += fills
        e["pnl_by_day"][str(day)] = pnl
    return out


@pytest.mark.parametrize("L,theta,cost", [(5, 0.0005, 1.0), (15, 0.001, 0.0), (1, 0.0, 2.5)])
def test_matches_plain_python_reference(L: int, theta: float, cost: float) -> None:
    bars = generate_bars(symbols=3, days=3, seed=L)
    res = frictionless_backtest(bars, L, theta, cost)
    ref = _reference(bars, L, theta, cost)
    assert set(res.per_symbol) == set(ref)
    for sym, e in ref.items():
        assert res.per_symbol[sym]["trades"] == e["trades"]
        for day, pnl in e["pnl_by_day"].items():
            assert res.per_symbol[sym]["pnl_by_day"][day] == pytest.approx(pnl, abs=1e-6)
