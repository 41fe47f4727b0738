"""Seeded synthetic minute bars for the embedded default and for tests.

Regular New York sessions from the exchange calendar (holidays skipped, early closes short),
one bar per minute from the open to the close. Log returns are Gaussian noise plus, when
``edge > 0``, a per-(symbol, session) drift: on "trend days" the price keeps going the way it
started, which is exactly what intraday time-series momentum harvests. ``edge = 0`` is a pure
random walk with no exploitable structure. Same arguments, same bytes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from qgap_assets.data.sessions import get_calendar

NOISE_PER_MINUTE = 0.0004       # ~0.8 % daily volatility over 390 minutes
DRIFT_PER_MINUTE = 0.00003      # times edge times N(0,1): the planted trend-day drift
OVERNIGHT_GAP = 0.004


def generate_bars(symbols: int = 20, days: int = 60, seed: int = 7, edge: float = 1.0,
                  start: str = "2024-01-02", calendar: str = "XNYS") -> pd.DataFrame:
    """Minute bars for ``symbols`` x ``days`` regular sessions starting at ``start``."""
    cal = get_calendar(calendar)
    first = cal.date_to_session(pd.Timestamp(start), direction="next")
    sessions = cal.sessions_window(first, days)
    sched = cal.schedule.loc[sessions, ["open", "close"]]
    open_ns = sched["open"].astype("int64").to_numpy()
    close_ns = sched["close"].astype("int64").to_numpy()
    minute = 60 * 1_000_000_000
    per_session = ((close_ns - open_ns) // minute).astype(np.int64)
    session_of_bar = np.repeat(np.arange(days), per_session)
    within = np.arange(per_session.sum()) - np.repeat(np.cumsum(per_session) - per_session, per_session)
    ts_one = open_ns[session_of_bar] + within * minute
    n_min = ts_one.shape[0]

    rng = np.random.default_rng(seed)
    drift = DRIFT_PER_MINUTE * edge * rng.standard_normal((symbols, days))
    intrabar = NOISE_PER_MINUTE * rng.standard_normal((symbols, n_min)) + drift[:, session_of_bar]
    gap = np.zeros((symbols, n_min))
    gap[:, within == 0] = OVERNIGHT_GAP * rng.standard_normal((symbols, days))
    start_price = rng.uniform(20.0, 200.0, size=(symbols, 1))
    log_close = np.log(start_price) + np.cumsum(gap + intrabar, axis=1)
    close = np.exp(log_close)
    open_ = np.exp(log_close - intrabar)
    wick = 1.0 + np.abs(rng.standard_normal((symbols, n_min, 2))) * (NOISE_PER_MINUTE / 2)
    high = np.maximum(open_, close) * wick[..., 0]
    low = np.minimum(open_, close) / wick[..., 1]
    volume = np.floor(rng.lognormal(mean=8.0, sigma=0.6, size=(symbols, n_min)))

    o, c = np.round(open_.ravel(), 4), np.round(close.ravel(), 4)
    # Rounding to 4 decimals may invert an open/high pair by a tick; restore the bar invariants.
    h = np.maximum(np.round(high.ravel(), 4), np.maximum(o, c))
    lo = np.minimum(np.round(low.ravel(), 4), np.minimum(o, c))
    # The symbol column is built in Arrow (a take from the 100 names): converting millions of
    # numpy strings to pandas' Arrow-backed str dtype cost more than the whole simulation.
    names = pa.array([f"SYN{i:03d}" for i in range(symbols)], type=pa.large_string())
    codes = np.repeat(np.arange(symbols, dtype=np.int32), n_min)
    return pd.DataFrame({
        "timestamp": pd.DatetimeIndex(np.tile(ts_one, symbols).view("datetime64[ns]")).tz_localize("UTC"),
        "symbol": pd.array(names.take(pa.array(codes)), dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
        "open": o, "high": h, "low": lo, "close": c, "volume": volume.ravel(),
    })
