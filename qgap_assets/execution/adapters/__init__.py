"""Execution adapters: one interface (``base.ExecutionAdapter``), three venues."""

from qgap_assets.execution.adapters.alpaca import AlpacaAdapter
from qgap_assets.execution.adapters.base import (AdapterResult, ExecutionAdapter, OrderRequest,
                                                 RetryPolicy, VenueOrder)
from qgap_assets.execution.adapters.lean import LeanAdapter
from qgap_assets.execution.adapters.simulated import SimulatedAdapter, fixed_price

__all__ = ["AdapterResult", "AlpacaAdapter", "ExecutionAdapter", "LeanAdapter", "OrderRequest",
           "RetryPolicy", "SimulatedAdapter", "VenueOrder", "fixed_price"]
