"""Named replay windows: which sessions count as high-volatility, low-volatility, trending, choppy.

Per session date, over every symbol's session that day:
- ``realized_vol``: the mean over symbols of sqrt(sum of squared 1-bar log returns of closes);
- ``efficiency``: the mean over symbols of |log(last close / first open)| divided by the sum of
  |1-bar log returns| (+ |log(first close / first open)|): 1 = a straight line, ~0 = back and forth.
Rule (documented in the README's "Evaluation" section): a window is the quarter of the dates (at least one)
ranking highest (``high_vol`` by realized vol, ``trending`` by efficiency) or lowest (``low_vol``,
``choppy``); ties are broken by date. A window's metrics are the candidate's daily PnL and funnel
on those dates.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from qgap_assets.data.sessions import SessionLayout

WINDOWS = {"high_vol": ("realized_vol", False), "low_vol": ("realized_vol", True),
           "trending": ("efficiency", False), "choppy": ("efficiency", True)}
WINDOW_SHARE = 0.25


def market_day_stats(layout: SessionLayout) -> pd.DataFrame:
    """Per session date: realized_vol and efficiency (see module doc); index datetime64[D]."""
    n = layout.n_bars
    if n == 0:
        return pd.DataFrame({"realized_vol": [], "efficiency": []})
    lengths = np.diff(layout.offsets)
    session_of_bar = np.repeat(np.arange(layout.n_sessions), lengths)
    logc = np.log(layout.close)
    ret = np.empty(n)
    ret[0] = 0.0
    ret[1:] = logc[1:] - logc[:-1]
    ret[layout.offsets[:-1]] = logc[layout.offsets[:-1]] - np.log(layout.open[layout.offsets[:-1]])
    sq = np.bincount(session_of_bar, weights=ret * ret, minlength=layout.n_sessions)
    path = np.bincount(session_of_bar, weights=np.abs(ret), minlength=layout.n_sessions)
    net = np.abs(logc[layout.offsets[1:] - 1] - np.log(layout.open[layout.offsets[:-1]]))
    per_session = pd.DataFrame({"date": layout.session_date, "realized_vol": np.sqrt(sq),
                                "efficiency": np.where(path > 0, net / np.where(path > 0, path, 1.0),
                                                       0.0)})
    return per_session.groupby("date").mean()


def window_dates(day_stats: pd.DataFrame, window: str) -> np.ndarray:
    """The dates of a named window (sorted), by the rule in the module doc."""
    if window not in WINDOWS:
        raise KeyError(f"unknown replay window {window!r}; known: {sorted(WINDOWS)}")
    column, ascending = WINDOWS[window]
    k = max(1, math.ceil(WINDOW_SHARE * len(day_stats)))
    ranked = day_stats.reset_index().sort_values([column, "date"], ascending=[ascending, True],
                                                 kind="stable")
    return np.sort(ranked["date"].to_numpy()[:k]).astype("datetime64[D]")


def rule_text(window: str) -> str:
    column, ascending = WINDOWS[window]
    side = "lowest" if ascending else "highest"
    return f"the {WINDOW_SHARE:.0%} of session dates with the {side} market {column}"
