"""Execution: route order intents to LEAN, Alpaca or a simulator under an explicit policy,
with kill switches, circuit breakers and an append-only audit trail (the README's "Execution" section).

Typical use from the cycle / canary::

    router = Router(engine, load_policy(path), {"lean": LeanAdapter.from_env(),
                                                "alpaca": AlpacaAdapter.from_env()})
    router.enforce_kill_switches()
    result = router.route(OrderIntent(strategy=..., candidate=..., run_id=..., symbol="SPY",
                                      sequence=0, side="buy", qty=10))
"""

from qgap_assets.execution.adapters import (AlpacaAdapter, LeanAdapter, OrderRequest, RetryPolicy,
                                            SimulatedAdapter, fixed_price)
from qgap_assets.execution.breakers import (BreakerConfig, TradingState, breaker_state,
                                            breaker_status, record_pnl, reset_breaker)
from qgap_assets.execution.cli import add_breaker_parser, add_kill_parser
from qgap_assets.execution.killswitch import blocking_kill, clear_kill, kill_status, set_kill
from qgap_assets.execution.orders import OrderIntent, client_order_id
from qgap_assets.execution.policy import RoutingPolicy, load_policy, parse_policy
from qgap_assets.execution.router import RouteResult, Router, adapters_from_env

__all__ = [
    "AlpacaAdapter", "BreakerConfig", "LeanAdapter", "OrderIntent", "OrderRequest", "RetryPolicy",
    "RouteResult", "Router", "RoutingPolicy", "SimulatedAdapter", "TradingState",
    "adapters_from_env", "add_breaker_parser", "add_kill_parser", "blocking_kill",
    "breaker_state", "breaker_status", "clear_kill", "client_order_id", "fixed_price",
    "kill_status", "load_policy", "parse_policy", "record_pnl", "reset_breaker", "set_kill",
]
