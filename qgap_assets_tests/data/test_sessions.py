"""Exchange sessions from exchange-calendars: holidays, early closes, DST, outside-session bars."""

from __future__ import annotations

import pandas as pd

from qgap_assets.data.bars import validate_bars
from qgap_assets.data.sessions import build_layout, filter_regular_sessions
from qgap_assets.data.synthetic import generate_bars
from qgap_assets.research.execution_model import ExecutionModel, realistic_backtest


def _minutes(start_utc: str, n: int, symbol: str = "AAA") -> pd.DataFrame:
    ts = pd.date_range(start_utc, periods=n, freq="1min", tz="UTC")
    return validate_bars(pd.DataFrame({"timestamp": ts, "symbol": symbol, "open": 10.0,
                                       "high": 10.0, "low": 10.0, "close": 10.0, "volume": 1.0}))


def test_dst_switch_2024_03_11_opens_at_1330_utc() -> None:
    # Friday 2024-03-08 is EST (open 14:30 UTC); Monday 2024-03-11 is EDT (open 13:30 UTC).
    fri = filter_regular_sessions(_minutes("2024-03-08 13:30", 120))
    assert fri.outside_session == 60  # 13:30-14:29 UTC is 08:30-09:29 New York
    assert fri.bars["timestamp"].min() == pd.Timestamp("2024-03-08 14:30", tz="UTC")
    mon = filter_regular_sessions(_minutes("2024-03-11 13:29", 2))
    assert mon.outside_session == 1
    assert mon.bars["timestamp"].tolist() == [pd.Timestamp("2024-03-11 13:30", tz="UTC")]


def test_half_day_2024_11_29_ends_at_1300_new_york() -> None:
    # open 14:30 UTC, early close 13:00 New York = 18:00 UTC; a full day of bars is given
    day = filter_regular_sessions(_minutes("2024-11-29 14:30", 390))
    assert len(day.bars) == 210 and day.outside_session == 180
    assert day.bars["timestamp"].max() == pd.Timestamp("2024-11-29 17:59", tz="UTC")


def test_holiday_has_no_session() -> None:
    out = filter_regular_sessions(_minutes("2024-07-04 14:30", 30))
    assert out.bars.empty and out.outside_session == 30


def test_synthetic_skips_holidays_and_shortens_early_closes() -> None:
    bars = generate_bars(symbols=1, days=3, start="2024-11-27")  # 27th full, 28th holiday, 29th half
    layout = build_layout(validate_bars(bars))
    assert [str(d) for d in layout.session_date] == ["2024-11-27", "2024-11-29", "2024-12-02"]
    assert list(layout.offsets[1:] - layout.offsets[:-1]) == [390, 210, 390]


def test_session_close_flatten_happens_at_the_real_last_bar_of_a_half_day() -> None:
    bars = validate_bars(generate_bars(symbols=1, days=1, start="2024-11-29", seed=3))
    extra = _minutes("2024-11-29 18:00", 60)  # after the early close: dropped, never traded
    kept = filter_regular_sessions(pd.concat([bars, extra], ignore_index=True))
    assert kept.outside_session == 60
    rec = realistic_backtest(kept.bars, 5, 0.0, ExecutionModel.frictionless(0.0))
    flat = rec.fills[rec.fills["kind"] == 1]
    assert len(flat) == 1
    assert pd.Timestamp(int(flat["timestamp"].iloc[0]), tz="UTC") == pd.Timestamp(
        "2024-11-29 17:59", tz="UTC")


def test_local_dates_match_tz_convert_across_dst_and_midnight() -> None:
    """The hour-table conversion gives the dates pandas' tz_convert gives: every minute around
    both 2024 DST switches and New York midnight, and sparse timestamps over decades (the
    direct-conversion fallback)."""
    import numpy as np

    from qgap_assets.data.sessions import local_dates

    def reference(ts_ns: np.ndarray) -> np.ndarray:
        idx = pd.DatetimeIndex(ts_ns.view("datetime64[ns]")).tz_localize("UTC")
        return idx.tz_convert("America/New_York").tz_localize(None).to_numpy().astype("datetime64[D]")

    dense = np.concatenate([pd.date_range(a, b, freq="1min", tz="UTC").as_unit("ns").asi8 for a, b in
                            (("2024-03-09", "2024-03-12"), ("2024-11-02", "2024-11-05"))])
    sparse = np.random.default_rng(3).integers(0, 2_000_000_000 * 10**9, 2_000)
    for ts in (dense, dense[::-1], sparse):
        assert np.array_equal(local_dates(ts), reference(ts))
    # 04:00 UTC on 2024-03-10 is 23:00 EST the day before; on 2024-03-11 it is 00:00 EDT
    pair = pd.DatetimeIndex(["2024-03-10 04:00", "2024-03-11 04:00"], tz="UTC").as_unit("ns").asi8
    assert local_dates(pair).astype(str).tolist() == ["2024-03-09", "2024-03-11"]
    assert local_dates(np.empty(0, dtype=np.int64)).shape == (0,)
