"""The realistic execution engine: every friction against hand-computed numbers, and the
zero-friction model against the frictionless simulator (exactly)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qgap_assets.data.sessions import build_layout
from qgap_assets.data.synthetic import generate_bars
from qgap_assets.research import kernels
from qgap_assets.research.backtest import frictionless_backtest
from qgap_assets.research.execution_model import ExecutionModel, Scenario, kernel_inputs, run_one
from qgap_assets.research.features import FeatureContract, compute_features

# One session, L=1, theta=1 %: r[1] = +5 % -> long decided at the close of bar 1; then r = 0
# (hold). Opens differ per bar so every fill price says which bar it came from.
CLOSES = [10.0, 10.5, 10.5, 10.5, 10.5]
OPENS = [10.0, 10.0, 11.0, 11.5, 12.0]
NO_FRICTION = dict(spread_bps=0.0, slippage_buckets=(), slippage_above_bps=0.0,
                   participation_cap=None, fee_bps=0.0)


def _bars(closes=CLOSES, opens=OPENS, volume=None, high=None, low=None, start="2024-01-02 14:30",
          symbol="AAA") -> pd.DataFrame:
    n = len(closes)
    ts = pd.date_range(start, periods=n, freq="1min", tz="UTC")
    hi = high if high is not None else list(np.maximum(opens, closes) + 0.5)
    lo = low if low is not None else list(np.minimum(opens, closes) - 0.5)
    return pd.DataFrame({"timestamp": ts, "symbol": symbol, "open": opens, "high": hi, "low": lo,
                         "close": closes, "volume": volume if volume is not None else [1e6] * n})


def _run(bars: pd.DataFrame, lag: int = 0, theta: float = 0.01, sc: Scenario = Scenario("base"),
         **model: object):
    layout = build_layout(bars)
    contract = FeatureContract(lookbacks=(1,), feature_lag=lag)
    feat = compute_features(layout, contract).column(1)
    m = ExecutionModel(**{**NO_FRICTION, **model})  # type: ignore[arg-type]
    rec = run_one(layout, feat, theta, m, kernel_inputs(layout, m, lag), sc)
    return rec, rec.stats.sum(axis=0)


def test_fixed_half_spread_paid_on_every_fill() -> None:
    rec, st = _run(_bars(), order_shares=100, spread_bps=10.0)  # half-spread 5 bps
    # buy 100 at open[2]=11 * 1.0005 = 11.0055; flatten sell 100 at close[4]=10.5 * 0.9995 = 10.49475
    assert list(rec.fills["price"]) == pytest.approx([11.0055, 10.49475], abs=1e-12)
    assert st[kernels.R_PNL] == pytest.approx(100 * (10.49475 - 11.0055), abs=1e-9)  # -51.075
    assert st[kernels.R_SPREAD_COST] == pytest.approx(100 * 11 * 0.0005 + 100 * 10.5 * 0.0005)


def test_per_symbol_spread_overrides_the_default() -> None:
    rec, _ = _run(_bars(), spread_bps=10.0, spread_bps_by_symbol={"AAA": 2.0})
    assert list(rec.fills["price"]) == pytest.approx([11.0011, 10.49895], abs=1e-12)


def test_high_low_spread_estimator() -> None:
    # h = hl_share * (high - low) / close / 2; fill bar 2: 0.5 * (11.5 - 10.5) / 10.5 / 2 = 1/42
    # flatten bar 4: 0.5 * (12.5 - 10.0) / 10.5 / 2 = 2.5/42
    bars = _bars(high=[10.5, 11.0, 11.5, 12.0, 12.5], low=[9.5, 9.5, 10.5, 10.0, 10.0])
    rec, _ = _run(bars, spread_mode="high_low", hl_share=0.5)
    assert list(rec.fills["price"]) == pytest.approx([11 * (1 + 1 / 42), 10.5 * (1 - 2.5 / 42)])


def test_slippage_bucket_by_participation() -> None:
    # 100 shares: bar 2 volume 4000 -> 2.5 % -> bucket (<= 5 %, 3 bps); flatten at bar 4 with
    # volume 1000 -> 10 % -> above every bucket: 10 bps.
    bars = _bars(volume=[1e6, 1e6, 4000.0, 1e6, 1000.0])
    rec, st = _run(bars, order_shares=100, slippage_buckets=((0.01, 0.0), (0.05, 3.0)),
                   slippage_above_bps=10.0)
    assert list(rec.fills["price"]) == pytest.approx([11.0033, 10.4895], abs=1e-12)
    assert st[kernels.R_PNL] == pytest.approx(100 * (10.4895 - 11.0033), abs=1e-9)
    # 0.5 % participation falls in the first (0 bps) bucket
    rec, _ = _run(_bars(volume=[2e4] * 5), order_shares=100,
                  slippage_buckets=((0.01, 0.0), (0.05, 3.0)), slippage_above_bps=10.0)
    assert list(rec.fills["price"]) == [11.0, 10.5]


def test_participation_cap_partial_fills_day_order_keeps_filling() -> None:
    # cap 10 %: bar 2 volume 300 -> 30 shares, bar 3 volume 500 -> 50, bar 4 -> the last 20.
    bars = _bars(volume=[1e6, 1e6, 300.0, 500.0, 1e6])
    rec, st = _run(bars, order_shares=100, participation_cap=0.1, time_in_force="day")
    assert list(rec.fills["qty"]) == [30.0, 50.0, 20.0, -100.0]
    assert list(rec.fills["price"]) == [11.0, 11.5, 12.0, 10.5]
    assert st[kernels.R_PNL] == pytest.approx(-(330 + 575 + 240) + 1050)  # -95
    assert (st[kernels.R_PARTIAL], st[kernels.R_FULL], st[kernels.R_CAPPED]) == (2, 2, 2)
    assert st[kernels.R_ORDERS] == 2 and st[kernels.R_FILLS] == 4


def test_ioc_remainder_cancelled_at_once() -> None:
    bars = _bars(volume=[1e6, 1e6, 300.0, 500.0, 1e6])
    rec, st = _run(bars, order_shares=100, participation_cap=0.1, time_in_force="ioc")
    assert list(rec.fills["qty"]) == [30.0, -30.0]
    assert st[kernels.R_IOC_CANCEL] == 1
    assert st[kernels.R_PNL] == pytest.approx(-330 + 315)


def test_day_remainder_cancelled_at_session_end() -> None:
    # 30 at bar 2, nothing at bar 3 (volume 0), 10 at bar 4; 60 left -> session_end_cancel.
    bars = _bars(volume=[1e6, 1e6, 300.0, 0.0, 100.0])
    rec, st = _run(bars, order_shares=100, participation_cap=0.1)
    assert list(rec.fills["qty"]) == [30.0, 10.0, -40.0]
    assert st[kernels.R_SESSION_END_CANCEL] == 1 and st[kernels.R_CAPPED] == 3


def test_latency_fills_at_bar_i_plus_1_plus_k() -> None:
    rec, _ = _run(_bars(), latency_bars=1)
    assert list(rec.fills["bar"]) == [3, 4] and list(rec.fills["price"]) == [11.5, 10.5]
    # a stress scenario adds latency on top of the model's
    rec, st = _run(_bars(), sc=Scenario("latency_plus_2", extra_latency=2))
    assert list(rec.fills["bar"]) == [4, 4] and list(rec.fills["price"]) == [12.0, 10.5]
    # k=3: the decision at bar 1 cannot reach the market before the session ends
    rec, st = _run(_bars(), latency_bars=3)
    assert rec.fills.empty and st[kernels.R_NO_NEXT] == 1 and st[kernels.R_DECISIONS] == 0


def test_fees_per_share_bps_and_minimum_per_order() -> None:
    # 100 shares, 10 bps + 0.005/share: buy 100*11*0.001 + 0.5 = 1.6, sell 1.05 + 0.5 = 1.55
    _, st = _run(_bars(), order_shares=100, fee_bps=10.0, fee_per_share=0.005, min_fee_per_order=1.0)
    assert st[kernels.R_FEES] == pytest.approx(3.15)
    assert st[kernels.R_PNL] == pytest.approx(100 * (10.5 - 11.0) - 3.15)
    # 10 shares: 0.11 + 0.05 = 0.16 -> minimum 1.0 per order, twice
    _, st = _run(_bars(), order_shares=10, fee_bps=10.0, fee_per_share=0.005, min_fee_per_order=1.0)
    assert st[kernels.R_FEES] == pytest.approx(2.0)
    # a partially filled order pays the minimum once over its fills: 30 + 50 + 20 shares
    bars = _bars(volume=[1e6, 1e6, 300.0, 500.0, 1e6])
    _, st = _run(bars, order_shares=100, participation_cap=0.1, min_fee_per_order=1.0)
    assert st[kernels.R_FEES] == pytest.approx(2.0)


def test_cost_multiplier_scales_every_cost() -> None:
    model = dict(order_shares=100, spread_bps=10.0, fee_bps=10.0, slippage_buckets=((0.01, 2.0),))
    _, base = _run(_bars(), **model)
    _, x2 = _run(_bars(), sc=Scenario("cost_x2", cost_mult=2.0), **model)
    for col in (kernels.R_FEES, kernels.R_SPREAD_COST, kernels.R_SLIP_COST):
        assert x2[col] == pytest.approx(2 * base[col], rel=1e-3)  # fees on the worse price: ~2x


def test_risk_block_and_data_stale() -> None:
    # reversal sequence: long at bar 1, short at bar 2; the limit of one order blocks the second
    closes, opens = [10.0, 10.5, 9.45, 9.45, 9.45], [10.0, 10.0, 11.0, 10.0, 10.0]
    _, st = _run(_bars(closes, opens), max_orders_per_session=1)
    assert st[kernels.R_DECISIONS] == 1 and st[kernels.R_RISK_BLOCK] == 1
    # feature_lag=1 with a 10-minute hole: the decision at bar 2 would use bar 1's data, 10 min old
    bars = _bars([10.0, 10.5, 10.5, 10.5, 10.5], [10.0] * 5)
    bars.loc[2:, "timestamp"] = bars.loc[2:, "timestamp"] + pd.Timedelta(minutes=10)
    rec, st = _run(bars, lag=1, max_data_age_seconds=300)
    assert st[kernels.R_STALE] == 1 and rec.decisions.empty


@pytest.mark.parametrize("L,theta,cost", [(5, 0.0005, 1.0), (15, 0.001, 0.0), (1, 0.0, 2.5)])
def test_zero_friction_is_exactly_the_frictionless_simulator(L: int, theta: float, cost: float) -> None:
    bars = generate_bars(symbols=3, days=3, seed=L)
    ref = frictionless_backtest(bars, L, theta, cost)
    layout = build_layout(bars)
    contract = FeatureContract(lookbacks=(L,))
    m = ExecutionModel.frictionless(cost)
    rec = run_one(layout, compute_features(layout, contract).column(L), theta, m,
                  kernel_inputs(layout, m, 0))
    assert rec.stats[:, kernels.R_PNL].sum() == ref.summary["pnl_total"]
    assert len(rec.fills) == ref.summary["trades"]
    assert list(rec.fills["qty"]) == list(ref.fills["qty"])
    assert list(rec.fills["price"]) == list(ref.fills["price"])
    # the grid kernel agrees with the single-point kernel, session by session
    from qgap_assets.research.execution_model import grid_stats

    feats = compute_features(layout, contract)
    g = grid_stats(layout, feats.values, np.array([0]), np.array([theta]), m,
                   kernel_inputs(layout, m, 0))
    assert np.array_equal(g[0], rec.stats)


def test_model_hash_is_stable_and_changes_with_any_assumption() -> None:
    a = ExecutionModel()
    assert a.hash() == ExecutionModel().hash()
    assert a.hash() != ExecutionModel(latency_bars=1).hash()
    with pytest.raises(ValueError):
        ExecutionModel(slippage_buckets=((0.05, 1.0), (0.01, 0.0)))


def test_worked_example_of_docs_evaluation_md() -> None:
    """The worked example in the README's "Evaluation" section, number for number."""
    bars = _bars(volume=[1e6, 1e6, 300.0, 500.0, 1e6])
    rec, st = _run(bars, order_shares=100, spread_bps=10.0,
                   slippage_buckets=((0.01, 0.0), (0.05, 0.5)), slippage_above_bps=2.0,
                   participation_cap=0.1, time_in_force="day", fee_bps=1.0)
    assert list(rec.fills["qty"]) == [30.0, 50.0, 20.0, -100.0]
    assert list(rec.fills["price"]) == pytest.approx([11.0077, 11.50805, 12.006, 10.49475],
                                                     abs=1e-12)
    assert st[kernels.R_FEES] == pytest.approx(0.2195229, abs=1e-7)
    assert st[kernels.R_PNL] == pytest.approx(-96.4980229, abs=1e-7)
    assert (st[kernels.R_WARMUP], st[kernels.R_BELOW], st[kernels.R_SIGNALS],
            st[kernels.R_DECISIONS], st[kernels.R_ORDERS], st[kernels.R_FULL],
            st[kernels.R_PARTIAL], st[kernels.R_CAPPED]) == (1, 3, 1, 1, 2, 2, 2, 2)


def test_execution_section_of_the_cycle_config(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from qgap_assets.config import load_config
    from qgap_assets.errors import ConfigError

    path = tmp_path / "cycle.yaml"
    path.write_text("grid:\n  cost_bps: 2.0\nexecution:\n  time_in_force: ioc\n  latency_bars: 1\n"
                    "  slippage_buckets: [[0.02, 1.0]]\n")
    cfg = load_config(path)
    model = cfg.execution_model()
    assert (model.time_in_force, model.latency_bars, model.fee_bps) == ("ioc", 1, 2.0)
    assert model.slippage_buckets == ((0.02, 1.0),)
    assert cfg.hash() != load_config(None).hash()
    path.write_text("execution:\n  latency: 1\n")
    with pytest.raises(ConfigError, match="execution.latency"):
        load_config(path)
