"""Adapter ``simulated``: fills from an execution model, deterministically and in process.

The research execution model lives elsewhere; this adapter only needs "at what price and for how
much would this order fill", so it takes that as a callable. A fill of zero quantity is a
rejection (no liquidity); less than the order quantity is a partial fill.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from qgap_assets.execution.adapters.base import AdapterResult, OrderRequest, VenueOrder
from qgap_assets.execution.reasons import Failure

FillModel = Callable[[OrderRequest], tuple[float, float]]
"""``order -> (price, filled_qty)``; ``filled_qty`` is clipped to ``[0, order.qty]``."""


def fixed_price(price: float) -> FillModel:
    """The simplest model: everything fills at ``price``."""
    return lambda order: (price, order.qty)


class SimulatedAdapter:
    """Immediate fills from ``fill_model``; idempotent per client order id (in this process)."""

    name = "simulated"

    def __init__(self, fill_model: FillModel | None = None) -> None:
        self.fill_model = fill_model
        self._orders: dict[str, VenueOrder] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SimulatedAdapter(fill_model={self.fill_model!r})"

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "fill_model": getattr(self.fill_model, "__qualname__",
                                                            repr(self.fill_model))}

    def submit(self, order: OrderRequest) -> AdapterResult:
        if self.fill_model is None:
            return AdapterResult(failure=Failure.UNCONFIGURED, message="no fill model given")
        with self._lock:
            existing = self._orders.get(order.client_order_id)
            if existing is None:
                existing = self._orders[order.client_order_id] = self._fill(order)
        failure = Failure.REJECTED if existing.status == "rejected" else None
        return AdapterResult(order=existing, failure=failure, message=existing.reason)

    def lookup(self, client_order_id: str) -> AdapterResult:
        found = self._orders.get(client_order_id)
        if found is None:
            return AdapterResult(failure=Failure.NOT_FOUND)
        return AdapterResult(order=found)

    def cancel(self, client_order_id: str) -> AdapterResult:
        with self._lock:
            found = self._orders.get(client_order_id)
            if found is None:
                return AdapterResult(failure=Failure.NOT_FOUND)
            if found.status == "partially_filled":  # the unfilled rest is withdrawn
                found = self._orders[client_order_id] = VenueOrder(
                    client_order_id=client_order_id, status="canceled",
                    broker_order_id=found.broker_order_id, filled_qty=found.filled_qty,
                    filled_avg_price=found.filled_avg_price, venue_status="canceled")
        return AdapterResult(order=found)

    def health(self) -> bool:
        return self.fill_model is not None

    def _fill(self, order: OrderRequest) -> VenueOrder:
        price, qty = self.fill_model(order)  # type: ignore[misc]
        qty = min(max(float(qty), 0.0), order.qty)
        broker_id = f"sim-{order.client_order_id}"
        if qty <= 0.0 or not math.isfinite(price) or price <= 0.0:
            return VenueOrder(client_order_id=order.client_order_id, status="rejected",
                              broker_order_id=broker_id, venue_status="rejected",
                              reason="simulated: no fill (zero quantity or no price)")
        status = "filled" if qty >= order.qty else "partially_filled"
        return VenueOrder(client_order_id=order.client_order_id, status=status,
                          broker_order_id=broker_id, filled_qty=qty, filled_avg_price=float(price),
                          venue_status=status)
