"""Friendly wrappers around the kernels: the frictionless backtest and grid evaluation.

The wrappers turn frames into flat arrays once, call one kernel, and turn the flat results
back into frames; no per-bar Python anywhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qgap_assets.data.sessions import SessionLayout, build_layout
from qgap_assets.research import kernels
from qgap_assets.research.features import (FeatureContract, FeatureSet, compute_features, momentum,
                                          session_position)


@dataclass(frozen=True)
class Params:
    """One point of the strategy's parameter grid."""

    lookback: int
    threshold: float

    def as_dict(self) -> dict[str, float | int]:
        return {"lookback": self.lookback, "threshold": self.threshold}


def grid_points(lookbacks: tuple[int, ...], thresholds: tuple[float, ...]) -> tuple[Params, ...]:
    return tuple(Params(lb, th) for lb in lookbacks for th in thresholds)


@dataclass(frozen=True)
class GridStats:
    """Kernel stats for every (param, session): shape (n_params, n_sessions, kernels.N_STATS)."""

    params: tuple[Params, ...]
    stats: np.ndarray

    def daily(self, layout: SessionLayout, column: int = kernels.PNL) -> pd.DataFrame:
        """Sum a stat over symbols per session date: rows = dates, columns = param index."""
        dates, inverse = np.unique(layout.session_date, return_inverse=True)
        out = np.zeros((dates.shape[0], len(self.params)))
        for p in range(len(self.params)):
            out[:, p] = np.bincount(inverse, weights=self.stats[p, :, column], minlength=dates.shape[0])
        return pd.DataFrame(out, index=pd.Index(dates, name="date"))


def evaluate_grid(layout: SessionLayout, features: FeatureSet, params: tuple[Params, ...],
                  cost_bps: float) -> GridStats:
    rows = np.array([features.lookbacks.index(p.lookback) for p in params], dtype=np.int64)
    thetas = np.array([p.threshold for p in params], dtype=np.float64)
    stats = kernels.grid_session_stats(layout.open, layout.close, features.values, layout.offsets,
                                       rows, thetas, cost_bps / 1e4)
    return GridStats(params, stats)


@dataclass(frozen=True)
class BacktestResult:
    summary: dict[str, float | int]
    per_symbol: dict[str, dict[str, object]]
    fills: pd.DataFrame


def frictionless_backtest(bars: pd.DataFrame, lookback: int, threshold: float,
                          cost_bps: float) -> BacktestResult:
    """The exact frictionless simulator on validated bars (sessions = symbol x NY date).

    ``seconds`` covers bars in memory -> results (layout, feature, kernel, aggregation).
    """
    t0 = time.perf_counter()
    layout = build_layout(bars)
    feat = momentum(layout.close, session_position(layout), lookback)
    idx, qty, px, stats = kernels.session_fills(layout.open, layout.close, feat, layout.offsets,
                                                float(threshold), cost_bps / 1e4)
    per_symbol: dict[str, dict[str, object]] = {}
    dates = layout.session_date.astype(str)
    for k in range(layout.n_sessions):
        sym = str(layout.session_symbol[k])
        entry = per_symbol.setdefault(sym, {"trades": 0, "pnl_total": 0.0, "pnl_by_day": {}})
        entry["trades"] = int(entry["trades"]) + int(stats[k, kernels.FILLS])  # type: ignore[call-overload]
        day_pnl = float(stats[k, kernels.PNL])
        by_day = entry["pnl_by_day"]
        assert isinstance(by_day, dict)
        by_day[dates[k]] = by_day.get(dates[k], 0.0) + day_pnl
    for entry in per_symbol.values():
        by_day = entry["pnl_by_day"]
        assert isinstance(by_day, dict)
        entry["pnl_total"] = float(sum(by_day.values()))
    seconds = time.perf_counter() - t0
    n_bars = layout.n_bars
    fills = pd.DataFrame({
        "timestamp": pd.to_datetime(layout.timestamp_ns[idx], utc=True),
        "symbol": np.repeat(layout.session_symbol, np.diff(layout.offsets))[idx] if n_bars else [],
        "qty": qty, "price": px,
    })
    summary = {
        "symbols": len(layout.symbols),
        "bars": n_bars,
        "trades": int(stats[:, kernels.FILLS].sum()),
        "pnl_total": float(sum(float(e["pnl_total"]) for e in per_symbol.values())),  # type: ignore[arg-type]
        "seconds": seconds,
        "bars_per_second": (n_bars / seconds) if seconds > 0 else float("inf"),
    }
    return BacktestResult(summary, per_symbol, fills)


def contract_for_grid(lookbacks: tuple[int, ...], feature_lag: int = 0) -> FeatureContract:
    return FeatureContract(lookbacks=tuple(sorted(set(lookbacks))), feature_lag=feature_lag)


__all__ = ["Params", "GridStats", "BacktestResult", "grid_points", "evaluate_grid",
           "frictionless_backtest", "contract_for_grid", "compute_features", "build_layout"]
