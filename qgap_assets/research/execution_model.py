"""The realistic execution model: a versioned, hashed config and the wrapper around its kernel.

What a fill costs and how much of an order fills (all per fill unless said otherwise):

- spread: the half-spread is paid on every fill (buy at ``open * (1 + h)``, sell at
  ``open * (1 - h)``). ``h`` is ``spread_bps / 2e4`` (``spread_bps_by_symbol`` overrides per
  symbol) in mode ``fixed``, or in mode ``high_low`` the estimator
  ``h = hl_share * (high - low) / close / 2`` on the fill bar: a share of the bar's range stands
  in for the quoted spread (``hl_share = 0`` costs nothing);
- slippage: extra bps chosen by the fill's participation ``qty / bar volume``: the first bucket
  ``(max_participation, bps)`` with ``participation <= max_participation``, else ``slippage_above_bps``;
- participation cap: one bar fills at most ``floor(participation_cap * volume)`` shares; the
  rest waits according to the time in force: ``day`` keeps filling on the following bars and is
  cancelled at the session end (``session_end_cancel``), ``ioc`` cancels the remainder at once
  (``ioc_cancelled``). A new decision replaces a working remainder (``order_replaced``);
- latency: an order decided at the close of bar i reaches the market at the open of bar
  ``i + 1 + latency_bars``; a signal too late for that to happen in the session is
  ``no_next_bar``;
- fees: ``fee_bps`` on notional plus ``fee_per_share``, with ``min_fee_per_order`` per order
  (topped up when the order finishes);
- risk: ``max_orders_per_session`` (0 = unlimited) blocks further decisions (``risk_block``);
- data freshness: a decision point whose newest feature input is older than
  ``max_data_age_seconds`` is dropped as ``data_stale``;
- the session-close flatten is one market-on-close order at the last bar's close: it pays
  spread, slippage and fees but is not capped (closing auction).

With every friction at zero (``ExecutionModel.frictionless(cost_bps)``) the engine reproduces the
frictionless simulator exactly; a test holds it to that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from qgap_assets.data.sessions import SessionLayout
from qgap_assets.ledger.hashing import hash_obj
from qgap_assets.research import kernels

EXECUTION_MODEL_VERSION = "realistic-v1"


class ExecutionModel(BaseModel):
    """Frozen, hashed execution assumptions; recorded with every run (version + hash)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = EXECUTION_MODEL_VERSION
    order_shares: float = Field(100.0, gt=0)
    spread_mode: Literal["fixed", "high_low"] = "fixed"
    spread_bps: float = Field(1.0, ge=0)
    spread_bps_by_symbol: dict[str, float] = Field(default_factory=dict)
    hl_share: float = Field(0.0, ge=0)
    slippage_buckets: tuple[tuple[float, float], ...] = ((0.01, 0.0), (0.05, 0.5))
    slippage_above_bps: float = Field(2.0, ge=0)
    participation_cap: float | None = Field(0.1, gt=0)
    time_in_force: Literal["day", "ioc"] = "day"
    latency_bars: int = Field(0, ge=0)
    fee_bps: float | None = Field(None, ge=0)  # None: the grid's cost_bps
    fee_per_share: float = Field(0.0, ge=0)
    min_fee_per_order: float = Field(0.0, ge=0)
    max_orders_per_session: int = Field(0, ge=0)
    max_data_age_seconds: float = Field(300.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> ExecutionModel:
        edges = [b[0] for b in self.slippage_buckets]
        if any(e <= 0 for e in edges) or edges != sorted(edges) or any(b[1] < 0 for b in
                                                                       self.slippage_buckets):
            raise ValueError("slippage_buckets must be (max_participation > 0, bps >= 0) pairs "
                             "in increasing participation order")
        return self

    @classmethod
    def frictionless(cls, cost_bps: float = 0.0) -> ExecutionModel:
        """Every friction at zero: one share, fees ``cost_bps`` on notional, fill at next open."""
        return cls(order_shares=1.0, spread_bps=0.0, slippage_buckets=(), slippage_above_bps=0.0,
                   participation_cap=None, latency_bars=0, fee_bps=cost_bps,
                   max_data_age_seconds=1e18)

    def resolved(self, cost_bps: float) -> ExecutionModel:
        return self if self.fee_bps is not None else self.model_copy(update={"fee_bps": cost_bps})

    def canonical(self) -> dict[str, object]:
        return self.model_dump(mode="json")

    def hash(self) -> str:
        return hash_obj(self.canonical())


@dataclass(frozen=True)
class Scenario:
    """A stress perturbation of the execution model (multipliers and extra latency)."""

    name: str
    cost_mult: float = 1.0     # fees, spread and slippage
    spread_mult: float = 1.0   # spread only
    extra_latency: int = 0


@dataclass(frozen=True)
class KernelInputs:
    """Per-bar arrays the realistic kernel needs beyond prices (computed once per layout)."""

    half_spread: np.ndarray  # fraction of price, before scenario multipliers
    stale: np.ndarray        # uint8: decision point's newest feature input too old


def kernel_inputs(layout: SessionLayout, model: ExecutionModel, feature_lag: int) -> KernelInputs:
    lengths = np.diff(layout.offsets)
    if model.spread_mode == "fixed":
        per_session = np.array([model.spread_bps_by_symbol.get(str(s), model.spread_bps)
                                for s in layout.session_symbol], dtype=np.float64)
        half = np.repeat(per_session, lengths) / 2e4
    else:
        half = model.hl_share * (layout.high - layout.low) / layout.close / 2.0
    ts = layout.timestamp_ns
    start = np.repeat(layout.offsets[:-1], lengths)
    src = np.arange(layout.n_bars, dtype=np.int64) - feature_lag
    ok = src >= start
    age = np.zeros(layout.n_bars, dtype=np.float64)
    age[ok] = (ts[ok] - ts[src[ok]]) / 1e9 - 60.0 * feature_lag
    stale = (age > model.max_data_age_seconds).astype(np.uint8)
    return KernelInputs(np.ascontiguousarray(half, dtype=np.float64), stale)


def _params(model: ExecutionModel, sc: Scenario) -> tuple:
    m = sc.cost_mult
    fee_bps = model.fee_bps if model.fee_bps is not None else 0.0
    edges = np.array([b[0] for b in model.slippage_buckets], dtype=np.float64)
    slip = np.array([b[1] for b in model.slippage_buckets] + [model.slippage_above_bps],
                    dtype=np.float64) * m / 1e4
    cap = math.inf if model.participation_cap is None else float(model.participation_cap)
    return (float(model.order_shares), fee_bps * m / 1e4, model.fee_per_share * m,
            model.min_fee_per_order * m, cap, model.time_in_force == "ioc",
            int(model.latency_bars + sc.extra_latency), int(model.max_orders_per_session),
            edges, slip)


def grid_stats(layout: SessionLayout, values: np.ndarray, feat_row: np.ndarray, thetas: np.ndarray,
               model: ExecutionModel, inputs: KernelInputs, sc: Scenario = Scenario("base")
               ) -> np.ndarray:
    """Per-(param, session) stats (``kernels.R_*`` columns) of the whole grid in one kernel call."""
    half = inputs.half_spread * (sc.cost_mult * sc.spread_mult)
    return kernels.realistic_grid_stats(layout.open, layout.close, layout.volume, half, inputs.stale,
                                        values, layout.offsets, feat_row, thetas, *_params(model, sc))


@dataclass(frozen=True)
class ExecutionRecord:
    """Every decision and fill of one parameter point (for tests, replay and the lookahead check)."""

    decisions: pd.DataFrame  # bar, timestamp, symbol, target
    fills: pd.DataFrame      # bar, timestamp, symbol, qty, price, kind (0 fill, 1 flatten)
    stats: np.ndarray        # (n_sessions, kernels.N_RSTATS)


def run_one(layout: SessionLayout, feat: np.ndarray, theta: float, model: ExecutionModel,
            inputs: KernelInputs, sc: Scenario = Scenario("base")) -> ExecutionRecord:
    half = inputs.half_spread * (sc.cost_mult * sc.spread_mult)
    d_idx, d_tgt, f_idx, f_qty, f_px, f_kind, stats = kernels.realistic_records(
        layout.open, layout.close, layout.volume, half, inputs.stale, feat, layout.offsets,
        float(theta), *_params(model, sc))
    bar_symbol = np.repeat(layout.session_symbol, np.diff(layout.offsets))
    ts = layout.timestamp_ns
    decisions = pd.DataFrame({"bar": d_idx, "timestamp": ts[d_idx], "symbol": bar_symbol[d_idx],
                              "target": d_tgt})
    fills = pd.DataFrame({"bar": f_idx, "timestamp": ts[f_idx], "symbol": bar_symbol[f_idx],
                          "qty": f_qty, "price": f_px, "kind": f_kind})
    return ExecutionRecord(decisions, fills, stats)


def realistic_backtest(session_bars: pd.DataFrame, lookback: int, threshold: float,
                       model: ExecutionModel, feature_lag: int = 0,
                       sc: Scenario = Scenario("base")) -> ExecutionRecord:
    """One parameter point on session bars: the same layout, feature function and kernel the
    walk-forward evaluation uses (the lookahead test truncates its input)."""
    from qgap_assets.data.sessions import build_layout
    from qgap_assets.research.features import FeatureContract, compute_features

    layout = build_layout(session_bars)
    contract = FeatureContract(lookbacks=(lookback,), feature_lag=feature_lag)
    feat = compute_features(layout, contract).column(lookback)
    return run_one(layout, feat, threshold, model, kernel_inputs(layout, model, feature_lag), sc)
