"""Look-ahead analysis (in the spirit of freqtrade's): truncating the data at a random point
must leave every earlier decision and fill unchanged. A feature or fill rule that peeks at a
later bar changes them and fails."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from qgap_assets.data.bars import validate_bars
from qgap_assets.data.sessions import build_layout, filter_regular_sessions
from qgap_assets.data.synthetic import generate_bars
from qgap_assets.research.execution_model import ExecutionModel, realistic_backtest
from qgap_assets.research.features import FeatureContract, compute_features

BARS = filter_regular_sessions(validate_bars(generate_bars(symbols=2, days=3, seed=21))).bars
TS = BARS["timestamp"].sort_values().unique()
MINUTE = pd.Timedelta(minutes=1).value


def _events(bars: pd.DataFrame, lookback: int, lag: int, k: int, tif: str) -> tuple:
    model = ExecutionModel(order_shares=100, spread_mode="high_low", hl_share=0.3,
                           participation_cap=0.02, time_in_force=tif, latency_bars=k,
                           min_fee_per_order=0.5)
    rec = realistic_backtest(bars, lookback, 0.0005, model, feature_lag=lag)
    key = ["symbol", "timestamp"]
    return (rec.decisions[key + ["target"]], rec.fills[key + ["qty", "price", "kind"]])


def _features(bars: pd.DataFrame, lookback: int, lag: int) -> pd.DataFrame:
    layout = build_layout(bars)
    values = compute_features(layout, FeatureContract(lookbacks=(lookback,), feature_lag=lag))
    return pd.DataFrame({"symbol": np.repeat(layout.session_symbol, np.diff(layout.offsets)),
                         "timestamp": layout.timestamp_ns, "value": values.column(lookback)})


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(min_value=50, max_value=len(TS) - 1), lookback=st.sampled_from([1, 5, 15]),
       lag=st.integers(0, 2), k=st.integers(0, 2), tif=st.sampled_from(["day", "ioc"]))
def test_truncation_leaves_every_earlier_decision_and_fill_unchanged(cut: int, lookback: int,
                                                                     lag: int, k: int,
                                                                     tif: str) -> None:
    end = pd.Timestamp(TS[cut])
    # the feature at every bar is final once that bar exists (truncation right after it)
    full_x = _features(BARS, lookback, lag)
    cut_x = _features(BARS[BARS["timestamp"] < end], lookback, lag)
    pd.testing.assert_frame_equal(full_x[full_x["timestamp"] < end.value].reset_index(drop=True),
                                  cut_x.reset_index(drop=True))
    full_d, full_f = _events(BARS, lookback, lag, k, tif)
    cut_d, cut_f = _events(BARS[BARS["timestamp"] < end], lookback, lag, k, tif)
    # Truncation ends the current session early: a decision needs k+1 later bars to reach the
    # market, so the last k+1 decision points of the cut session are dropped (and with them the
    # replacement of a working day order), and the new last bar gets a flatten. That is the
    # session end moving, not look-ahead; everything up to that horizon must be identical.
    horizon_d = end.value - (k + 2) * MINUTE
    horizon_f = horizon_d
    session_day = end.tz_convert("America/New_York").date()

    def before(frame: pd.DataFrame, horizon: int) -> pd.DataFrame:
        day = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_convert("America/New_York").dt.date
        keep = (frame["timestamp"] <= horizon) | (day < session_day)
        return frame[keep & (frame["timestamp"] < end.value)].reset_index(drop=True)

    pd.testing.assert_frame_equal(before(full_d, horizon_d), before(cut_d, horizon_d))
    ff, cf = before(full_f, horizon_f), before(cut_f, horizon_f)
    same_session = pd.to_datetime(ff["timestamp"], utc=True).dt.tz_convert(
        "America/New_York").dt.date == session_day
    ff = ff[~(same_session & (ff["kind"] == 1))].reset_index(drop=True)
    cf = cf[~((pd.to_datetime(cf["timestamp"], utc=True).dt.tz_convert("America/New_York").dt.date
               == session_day) & (cf["kind"] == 1))].reset_index(drop=True)
    pd.testing.assert_frame_equal(ff, cf)
    assert len(full_d) > 0


def test_a_peeking_feature_is_caught() -> None:
    """The same comparison catches a feature that uses the next bar's close."""
    from qgap_assets.research import features as feats

    original = feats.momentum

    def peeking(close, position, lookback, lag=0, out=None):  # type: ignore[no-untyped-def]
        out = original(close, position, lookback, lag, out)
        out[:-1] = out[1:].copy()
        return out

    end = pd.Timestamp(TS[200])
    feats.momentum = peeking
    try:
        full_x = _features(BARS, 5, 0)
        cut_x = _features(BARS[BARS["timestamp"] < end], 5, 0)
    finally:
        feats.momentum = original
    with pytest.raises(AssertionError):
        pd.testing.assert_frame_equal(
            full_x[full_x["timestamp"] < end.value].reset_index(drop=True),
            cut_x.reset_index(drop=True))
