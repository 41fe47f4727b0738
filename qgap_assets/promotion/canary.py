"""The paper canary: run a promoted candidate against a broker and compare with the backtest.

One canary run = one market session of bars. The strategy's orders for that session come from
the same decision rule the backtest uses (the frictionless simulator's fills: decide at bar i's
close, fill at bar i+1's open, flatten at the last close); they go to a broker, and what the
broker actually filled is compared, order by order and in PnL, with what the simulator says
should have happened on the same bars (``lifecycle.evaluate_canary_run``).

Brokers are injected (:class:`PaperBroker`): :class:`SimulatedBroker` fills at the market price
of the bar the order meets (the default paper venue, no network), :class:`RouterBroker` sends
every order through an execution router (``qgap_assets.execution.Router`` with its kill
switches, breakers and audit trail) built by the caller, so this module never imports the
execution layer. A broker that fills at other prices or quantities than the simulator (slippage,
partial fills, a changed code path) shows up as ``paper_backtest_mismatch``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd

from qgap_assets.errors import InputValidationError
from qgap_assets.promotion.lifecycle import (CanaryEnvelope, CanaryObservation, Fill,
                                             SimulatorExpectation)
from qgap_assets.promotion.policy import LifecyclePolicy
from qgap_assets.research.backtest import frictionless_backtest


@dataclass(frozen=True)
class CanaryPlan:
    """What a manifest says about running the candidate."""

    candidate_key: str
    strategy: str
    lookback: int
    threshold: float
    cost_bps: float
    dataset_ref: str
    manifest_sha256: str

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], sha: str) -> CanaryPlan:
        params = manifest["params"]
        run = manifest.get("run") or {}
        return cls(manifest["candidate_key"], manifest["strategy"], int(params["lookback"]),
                   float(params["threshold"]), float(run.get("cost_bps", 1.0)),
                   manifest["dataset_ref"], sha)


@dataclass(frozen=True)
class PaperAdjustment:
    """What bounded advice changed for one paper run (identity when it changed nothing).

    Multipliers on the candidate's own knobs, as the advisory layer hands them over
    (``AppliedAdvice.intent_after``); ``advice_ref`` names the ledgered advisory call."""

    position_scale: float = 1.0
    threshold_multiplier: float = 1.0
    disabled_symbols: tuple[str, ...] = ()
    advice_ref: str | None = None
    stage: str | None = None
    # In record-only stages: what bounded advice WOULD have done. The run does not trade it; the
    # simulator scores it beside the unadvised run, the advised arm of the control validation.
    counterfactual: PaperAdjustment | None = None

    @property
    def is_identity(self) -> bool:
        return (self.position_scale == 1.0 and self.threshold_multiplier == 1.0
                and not self.disabled_symbols)

    def apply(self, plan: CanaryPlan, bars: pd.DataFrame) -> tuple[CanaryPlan, pd.DataFrame]:
        """The plan and bars the run trades: a higher threshold, fewer symbols (quantities are
        scaled in :func:`plan_session`). Identity returns the very same objects."""
        if self.is_identity:
            return plan, bars
        plan = replace(plan, threshold=plan.threshold * self.threshold_multiplier)
        if self.disabled_symbols:
            bars = bars[~bars["symbol"].isin(self.disabled_symbols)].reset_index(drop=True)
        return plan, bars


@dataclass(frozen=True)
class PaperOrder:
    """One order of a canary run: signed quantity, and the bar/price field it executes at."""

    order_id: str
    symbol: str
    timestamp: str
    quantity: float
    position_before: float
    market_price: float  # the bar's open (decision fill) or close (session flatten)


@dataclass(frozen=True)
class BrokerReport:
    fills: tuple[Fill, ...]
    orders_submitted: int
    orders_filled: int
    requests: int
    errors: int
    adapter: str
    statuses: dict[str, str] = field(default_factory=dict)


class PaperBroker(Protocol):
    name: str

    def execute(self, run_id: str, orders: Sequence[PaperOrder]) -> BrokerReport: ...


class SimulatedBroker:
    """Fills every order in full at the bar's market price, moved by ``slippage_bps`` against
    the order (0 by default: a paper venue that behaves like the backtest's execution model)."""

    name = "simulated"

    def __init__(self, slippage_bps: float = 0.0, fill_ratio: float = 1.0) -> None:
        self.slippage_bps = slippage_bps
        self.fill_ratio = fill_ratio

    def execute(self, run_id: str, orders: Sequence[PaperOrder]) -> BrokerReport:
        fills = []
        for o in orders:
            px = o.market_price * (1 + np.sign(o.quantity) * self.slippage_bps / 1e4)
            qty = o.quantity * self.fill_ratio
            if qty:
                fills.append(Fill(o.order_id, float(qty), float(px)))
        return BrokerReport(tuple(fills), len(orders), len(fills), len(orders), 0, self.name)


RouteFn = Callable[[str, PaperOrder, int], tuple[str, float, float | None]]
"""``(run_id, order, sequence) -> (status, filled_qty, filled_avg_price)``."""


class RouterBroker:
    """Sends orders through an execution router via ``route`` (built by the caller, e.g.
    ``defs/promotion.py`` around ``execution.Router.route``); ``quote`` tells a simulated venue
    behind that router the market price of each order before it is routed."""

    name = "router"

    def __init__(self, route: RouteFn, quote: Callable[[PaperOrder, int, str], None] | None = None,
                 adapter: str = "router") -> None:
        self.route, self.quote, self.name = route, quote, adapter

    def execute(self, run_id: str, orders: Sequence[PaperOrder]) -> BrokerReport:
        fills, statuses, errors, filled = [], {}, 0, 0
        for seq, o in enumerate(orders):
            if self.quote is not None:
                self.quote(o, seq, run_id)
            status, qty, price = self.route(run_id, o, seq)
            statuses[o.order_id] = status
            if status in ("failed", "unknown", "refused", "rejected"):
                errors += 1
            if qty > 0 and price is not None:
                filled += 1
                fills.append(Fill(o.order_id, float(np.sign(o.quantity) * qty), float(price)))
        return BrokerReport(tuple(fills), len(orders), filled, len(orders), errors, self.name,
                            statuses)


def session_dates(bars: pd.DataFrame) -> list[str]:
    """New York session dates of the bars, oldest first."""
    local = pd.to_datetime(bars["timestamp"], utc=True).dt.tz_convert("America/New_York")
    return sorted({str(d) for d in local.dt.date})


def session_bars(bars: pd.DataFrame, session: str) -> pd.DataFrame:
    local = pd.to_datetime(bars["timestamp"], utc=True).dt.tz_convert("America/New_York")
    out = bars[local.dt.date.astype(str) == session]
    if out.empty:
        raise InputValidationError(f"canary: no bars for session {session}")
    return out.reset_index(drop=True)


def advised_arm(plan: CanaryPlan, bars: pd.DataFrame, session: str,
                adjustment: PaperAdjustment) -> dict[str, float]:
    """The simulator's PnL and fill count of ``session`` under ``adjustment`` (not traded)."""
    arm_plan, arm_bars = adjustment.apply(plan, bars)
    _, expected, _ = plan_session(arm_plan, arm_bars, session, adjustment.position_scale)
    return {"pnl": expected.pnl, "fills": float(len(expected.fills))}


def plan_session(plan: CanaryPlan, bars: pd.DataFrame, session: str, scale: float = 1.0
                 ) -> tuple[list[PaperOrder], SimulatorExpectation, float]:
    """The session's orders, the simulator's expectation and the run capital (sum over symbols
    of the mean close, as in the evaluation). ``scale`` multiplies every quantity (bounded
    advice may only shrink positions); the simulator's PnL is linear in quantity, so the
    expectation scales with it exactly."""
    day = session_bars(bars, session)
    result = frictionless_backtest(day, plan.lookback, plan.threshold, plan.cost_bps)
    fills = result.fills.sort_values(["symbol", "timestamp"], kind="stable").reset_index(drop=True)
    orders: list[PaperOrder] = []
    expected: list[Fill] = []
    last_in_symbol = fills.groupby("symbol").cumcount(ascending=False) == 0
    indexed = day.assign(ts=pd.to_datetime(day["timestamp"], utc=True)).set_index(["symbol", "ts"])
    position: dict[str, float] = {}
    for i, row in fills.iterrows():
        sym, ts = str(row["symbol"]), row["timestamp"]
        bar = indexed.loc[(sym, ts)]
        market = float(bar["close"] if last_in_symbol[i] else bar["open"])  # flatten at close
        oid = f"{session}:{sym}:{i}"
        pos = position.get(sym, 0.0)
        qty = float(row["qty"]) * scale
        orders.append(PaperOrder(oid, sym, ts.isoformat(), qty, pos, market))
        position[sym] = pos + qty
        expected.append(Fill(oid, qty, float(row["price"])))
    capital = float(day.groupby("symbol")["close"].mean().sum())
    pnl = float(result.summary["pnl_total"]) * scale
    return orders, SimulatorExpectation(tuple(expected), pnl), capital


def observe(run_id: str, orders: Sequence[PaperOrder], report: BrokerReport, cost_bps: float,
            capital: float) -> CanaryObservation:
    """PnL (cash flows less costs; every session ends flat) and max drawdown of the marked
    equity path, both from what the broker actually filled."""
    by_id = {o.order_id: o for o in orders}
    fills = sorted(report.fills, key=lambda f: (by_id[f.order_id].timestamp, f.order_id))
    cash, peak, dd = 0.0, 0.0, 0.0
    pos: dict[str, float] = {}
    last_px: dict[str, float] = {}
    for f in fills:
        sym = by_id[f.order_id].symbol
        cash -= f.quantity * f.price + cost_bps / 1e4 * abs(f.quantity) * f.price
        pos[sym] = pos.get(sym, 0.0) + f.quantity
        last_px[sym] = f.price
        equity = cash + sum(q * last_px[s] for s, q in pos.items())
        peak = max(peak, equity)
        dd = max(dd, peak - equity)
    return CanaryObservation(run_id, tuple(report.fills), cash, dd / capital if capital else 0.0,
                             report.orders_submitted, report.orders_filled, report.requests,
                             report.errors)


def envelope(plan: CanaryPlan, bars: pd.DataFrame, policy: LifecyclePolicy) -> CanaryEnvelope:
    """Canary limits from the backtest of the candidate on its whole dataset: expected PnL per
    run = mean session PnL, sigma = its standard deviation x the policy's safety factor."""
    result = frictionless_backtest(bars, plan.lookback, plan.threshold, plan.cost_bps)
    daily: dict[str, float] = {}
    for entry in result.per_symbol.values():
        for day, pnl in entry["pnl_by_day"].items():  # type: ignore[union-attr]
            daily[day] = daily.get(day, 0.0) + float(pnl)
    values = np.array(list(daily.values()), dtype=np.float64)
    sd = float(values.std(ddof=1)) if values.size >= 2 else 0.0
    mean = float(values.mean()) if values.size else 0.0
    return CanaryEnvelope(policy.canary_max_drawdown, policy.canary_min_fill_rate,
                          policy.canary_max_error_rate, mean,
                          max(sd * policy.canary_pnl_sigma_factor, 1e-9), policy.canary_alpha)
