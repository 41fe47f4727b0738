"""Performance metrics on daily PnL series. Sharpe here is annualised with sqrt(252) unless the
name says per-period; drawdowns are in PnL units (shares x price)."""

from __future__ import annotations

import math

import numpy as np

TRADING_DAYS = 252


def sharpe_annualised(daily: np.ndarray) -> float:
    daily = np.asarray(daily, dtype=np.float64)
    if daily.shape[0] < 2:
        return 0.0
    sd = float(daily.std(ddof=1))
    if sd == 0.0 or not math.isfinite(sd):
        return 0.0
    return float(daily.mean() / sd * math.sqrt(TRADING_DAYS))


def max_drawdown(daily: np.ndarray) -> float:
    """Largest peak-to-trough fall of cumulative PnL (a non-negative number)."""
    daily = np.asarray(daily, dtype=np.float64)
    if daily.shape[0] == 0:
        return 0.0
    equity = np.concatenate(([0.0], np.cumsum(daily)))
    return float(np.max(np.maximum.accumulate(equity) - equity))
