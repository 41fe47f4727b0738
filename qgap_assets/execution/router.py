"""The execution router: policy, kill switches, breakers, adapters, fallback, audit.

One call, :meth:`Router.route`, takes an :class:`OrderIntent` through, in order:

1. ledger the intent under its deterministic client order id (a different intent under the
   same id is refused: ``client_order_id_conflict``);
2. idempotency: an id that already reached a venue is answered from the ledger (a ``replay``
   event), never resubmitted; an id left ``unknown`` is looked up at the venues first;
3. the routing policy (``no_route`` when the symbol is not covered);
4. kill switches (``kill_<level>``, highest level wins) and the strategy breaker
   (``strategy_halted`` / ``strategy_reducing``);
5. the primary adapter (behind its own breaker). After an ambiguous failure (timeout, dropped
   connection, 5xx, malformed answer) the router asks that venue for the client order id
   before anything else: found means the order stands there; not found means it is safe to
   fall back; no answer means ``<adapter>_status_unknown`` and no fallback, because that could
   double the order;
6. fallback LEAN -> Alpaca when the policy allows it for that reason code
   (``route_used = alpaca_fallback``, ``fallback_reason = lean_...``).

Every step is an ``execution_order_events`` row and each call ends in exactly one ``final``
row carrying route requested, route used, fallback reason, reason code and policy version.
No database transaction is held open across a network call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from qgap_assets.errors import ConfigError
from qgap_assets.execution import breakers
from qgap_assets.execution.adapters.alpaca import AlpacaAdapter
from qgap_assets.execution.adapters.base import (OPEN_STATUSES, VENUE_STATUSES, AdapterResult,
                                                 ExecutionAdapter, OrderRequest, VenueOrder)
from qgap_assets.execution.adapters.lean import LeanAdapter
from qgap_assets.execution.adapters.simulated import FillModel, SimulatedAdapter
from qgap_assets.execution.audit import (ATTEMPT, CANCEL, FALLBACK, FINAL, REPLAY, Clock, OrderRef,
                                         append_event, attempted_adapters, iso, latest_outcome,
                                         open_orders, register_order, utc_now)
from qgap_assets.execution.breakers import ADAPTER, STRATEGY, BreakerConfig, TradingState
from qgap_assets.execution.killswitch import blocking_kill, kill_status
from qgap_assets.execution.orders import OrderIntent
from qgap_assets.execution.policy import FALLBACK as FALLBACK_ADAPTER
from qgap_assets.execution.policy import PRIMARY, RoutingPolicy, SymbolRoute, load_policy
from qgap_assets.execution.reasons import (AMBIGUOUS_FAILURES, CLIENT_ORDER_ID_CONFLICT, NO_ROUTE,
                                           STRATEGY_HALTED, STRATEGY_REDUCING, Failure,
                                           adapter_reason, halted_reason, kill_reason,
                                           reducing_reason, status_unknown_reason)
from qgap_assets.execution.records import execution_orders

ROUTE_FALLBACK = "alpaca_fallback"
ROUTES_USED = (PRIMARY, ROUTE_FALLBACK, "alpaca", "simulated")
POLICY_ENV = "QGAP_ROUTING_POLICY"


def adapter_for_route(route_used: str) -> str:
    """The adapter behind a ``route_used`` value (``alpaca_fallback`` is Alpaca)."""
    return FALLBACK_ADAPTER if route_used == ROUTE_FALLBACK else route_used


@dataclass(frozen=True)
class RouteResult:
    """What happened to one order (the content of its latest outcome event).

    ``status``: a venue status (accepted, partially_filled, filled, canceled, rejected) or
    ``refused`` (nothing sent), ``failed`` (nothing placed) or ``unknown`` (the venue could not
    say; the next ``route`` of the same intent resolves it before anything else).
    """

    client_order_id: str
    status: str
    route_requested: str | None
    route_used: str | None
    reason_code: str | None
    fallback_reason: str | None
    policy_version: str | None
    broker_order_id: str | None = None
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    replayed: bool = False

    @property
    def placed(self) -> bool:
        """True when a venue holds (or held) the order: it may have filled."""
        return self.status in VENUE_STATUSES - {"rejected"}


@dataclass
class _Context:
    """Per-call values every event of this routing call carries."""

    ref: OrderRef
    route_requested: str | None
    policy_version: str | None
    policy_hash: str | None
    risk_reducing: bool
    touched_adapters: set[str] = field(default_factory=set)

    def columns(self) -> dict[str, Any]:
        return {"route_requested": self.route_requested, "policy_version": self.policy_version,
                "policy_hash": self.policy_hash, "risk_reducing": self.risk_reducing}


@dataclass(frozen=True)
class _Outcome:
    """One adapter's answer after the ambiguous-failure lookup."""

    order: VenueOrder | None = None
    reason_code: str | None = None
    unknown: bool = False
    sent: bool = False

    @property
    def placed(self) -> bool:
        return self.order is not None and self.order.status != "rejected"


class Router:
    """Routes order intents; see the module docstring for the sequence."""

    def __init__(self, engine: Engine, policy: RoutingPolicy | None,
                 adapters: Mapping[str, ExecutionAdapter], *, account: str = "default",
                 breaker_config: BreakerConfig | None = None, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.policy = policy
        self.adapters = dict(adapters)
        self.account = account
        self.breaker_config = breaker_config or BreakerConfig()
        self.clock = clock

    @classmethod
    def from_env(cls, engine: Engine, policy_path: str | None = None, *,
                 fill_model: FillModel | None = None, **kwargs: Any) -> Router:
        """Policy from ``policy_path`` or ``QGAP_ROUTING_POLICY``; adapters from the environment
        (``QGAP_LEAN_RUNNER_URL``, ``ALPACA_API_KEY``/``ALPACA_SECRET_KEY``/``ALPACA_BASE_URL``)
        and the simulator when ``fill_model`` is given."""
        path = policy_path or os.environ.get(POLICY_ENV)
        if not path:
            raise ConfigError(f"routing policy: no file given and {POLICY_ENV} is not set")
        return cls(engine, load_policy(path), adapters_from_env(fill_model), **kwargs)

    @classmethod
    def for_cancellation(cls, engine: Engine) -> Router:
        """A router without a policy, for cancelling open orders (the kill CLI)."""
        return cls(engine, None, adapters_from_env(None))

    # -- routing -----------------------------------------------------------------------------

    def route(self, intent: OrderIntent) -> RouteResult:
        """Route one order intent; never raises for venue trouble (see RouteResult.status)."""
        intent.validate()
        if self.policy is None:
            raise ConfigError("router: no routing policy loaded; this router can only cancel")
        account = intent.account or self.account
        ref = OrderRef(intent.client_order_id, intent.strategy, account, intent.symbol)
        ctx = _Context(ref, None, self.policy.version, self.policy.policy_hash,
                       intent.risk_reducing)
        if register_order(self.engine, intent, account, self._now()) == "conflict":
            return self._final(ctx, "refused", reason_code=CLIENT_ORDER_ID_CONFLICT,
                               detail={"intent": intent.identity(account)})

        with self.engine.connect() as conn:
            prior = latest_outcome(conn, ref.client_order_id)
        if prior is not None and prior.status in VENUE_STATUSES:
            return self._replay(ctx, prior)
        if prior is not None and prior.status == "unknown":
            resolved = self._resolve_unknown(ctx, prior)
            if resolved is not None:
                self._evaluate_breakers(ctx)
                return resolved

        route = self.policy.route_for(intent.symbol)
        if route is None:
            return self._final(ctx, "refused", reason_code=NO_ROUTE)
        ctx.route_requested = route.adapter

        kill = blocking_kill(self.engine, account=account, strategy=intent.strategy,
                             symbol=intent.symbol)
        if kill is not None:
            return self._final(ctx, "refused", reason_code=kill_reason(kill.level),
                               detail={"kill": {"level": kill.level, "key": kill.scope_key,
                                                "reason": kill.reason, "by": kill.actor}})
        strategy_state = breakers.evaluate(self.engine, STRATEGY, intent.strategy,
                                           self.breaker_config, self.clock())
        if not breakers.allows(strategy_state.state, intent.risk_reducing):
            code = (STRATEGY_HALTED if strategy_state.state is TradingState.HALTED
                    else STRATEGY_REDUCING)
            return self._final(ctx, "refused", reason_code=code)
        result = self._dispatch(ctx, route, intent.request())
        self._evaluate_breakers(ctx)
        return result

    def _dispatch(self, ctx: _Context, route: SymbolRoute, request: OrderRequest) -> RouteResult:
        fallback_reason = None
        adapter, route_used = route.adapter, route.adapter
        if route.adapter == PRIMARY:
            outcome = self._try(ctx, PRIMARY, request)
            if outcome.placed or outcome.unknown:
                return self._final_from(ctx, outcome, PRIMARY, None)
            assert self.policy is not None and outcome.reason_code is not None
            if not self.policy.may_fall_back(route, outcome.reason_code):
                return self._final_from(ctx, outcome, PRIMARY if outcome.sent else None, None)
            fallback_reason = outcome.reason_code
            self._event(ctx, FALLBACK, adapter=FALLBACK_ADAPTER, route_used=ROUTE_FALLBACK,
                        fallback_reason=fallback_reason)
            adapter, route_used = FALLBACK_ADAPTER, ROUTE_FALLBACK
        outcome = self._try(ctx, adapter, request)
        return self._final_from(ctx, outcome, route_used if outcome.sent else None,
                                fallback_reason)

    def _try(self, ctx: _Context, name: str, request: OrderRequest) -> _Outcome:
        """Submit through one adapter behind its breaker; resolve ambiguous failures by lookup."""
        adapter = self.adapters.get(name)
        if adapter is None:
            return _Outcome(reason_code=adapter_reason(name, Failure.UNCONFIGURED))
        ctx.touched_adapters.add(name)
        state = breakers.evaluate(self.engine, ADAPTER, name, self.breaker_config, self.clock())
        if state.state is TradingState.HALTED:
            return _Outcome(reason_code=halted_reason(name))
        if not breakers.allows(state.state, ctx.risk_reducing):
            return _Outcome(reason_code=reducing_reason(name))

        submitted = adapter.submit(request)
        self._attempt(ctx, name, "submit", submitted)
        sent = submitted.failure not in (Failure.UNCONFIGURED, Failure.UNAVAILABLE)
        if submitted.failure is None and submitted.order is not None:
            return _Outcome(order=submitted.order, sent=True)
        if submitted.failure in AMBIGUOUS_FAILURES:
            looked = adapter.lookup(request.client_order_id)
            self._attempt(ctx, name, "lookup", looked)
            if looked.order is not None:  # the venue has it: that is the order's outcome
                code = adapter_reason(name, Failure.REJECTED) if looked.failure else None
                return _Outcome(order=looked.order, reason_code=code, sent=True)
            if looked.failure is Failure.NOT_FOUND:
                return _Outcome(reason_code=adapter_reason(name, submitted.failure), sent=True)
            return _Outcome(reason_code=status_unknown_reason(name), unknown=True, sent=True)
        assert submitted.failure is not None
        return _Outcome(order=submitted.order, reason_code=adapter_reason(name, submitted.failure),
                        sent=sent)

    def _resolve_unknown(self, ctx: _Context, prior: Any) -> RouteResult | None:
        """Ask the venues an earlier call left in doubt; None when none of them has the order."""
        with self.engine.connect() as conn:
            names = attempted_adapters(conn, ctx.ref.client_order_id)
        ctx.route_requested = prior.route_requested
        for name in reversed(names):
            adapter = self.adapters.get(name)
            if adapter is None:
                looked = AdapterResult(failure=Failure.UNCONFIGURED)
            else:
                looked = adapter.lookup(ctx.ref.client_order_id)
                self._attempt(ctx, name, "lookup", looked)
            if looked.order is not None:
                outcome = _Outcome(order=looked.order, sent=True, reason_code=(
                    adapter_reason(name, Failure.REJECTED) if looked.failure else None))
                route_used = (ROUTE_FALLBACK if name == FALLBACK_ADAPTER
                              and prior.route_requested == PRIMARY else name)
                return self._final_from(ctx, outcome, route_used, prior.fallback_reason,
                                        detail={"resolved_unknown": True})
            if looked.failure is not Failure.NOT_FOUND:
                return self._final(ctx, "unknown", route_used=prior.route_used,
                                   reason_code=status_unknown_reason(name),
                                   fallback_reason=prior.fallback_reason)
        return None

    # -- cancellation and kill switches -----------------------------------------------------

    def cancel(self, client_order_id: str, reason_code: str | None = None) -> RouteResult:
        """Cancel an open order at the venue that holds it; a no-op for a closed one."""
        with self.engine.connect() as conn:
            order = conn.execute(select(execution_orders).where(
                execution_orders.c.client_order_id == client_order_id)).first()
            prior = latest_outcome(conn, client_order_id)
        if order is None or prior is None:
            raise ConfigError(f"cancel: no routed order with client_order_id {client_order_id!r}")
        ref = OrderRef(client_order_id, order.strategy, order.account, order.symbol)
        ctx = _Context(ref, prior.route_requested, prior.policy_version, prior.policy_hash,
                       bool(prior.risk_reducing))
        if prior.status not in OPEN_STATUSES or prior.route_used is None:
            return _result_from_row(prior)
        name = adapter_for_route(prior.route_used)
        adapter = self.adapters.get(name)
        cancelled = (adapter.cancel(client_order_id) if adapter is not None
                     else AdapterResult(failure=Failure.UNCONFIGURED))
        self._attempt(ctx, name, "cancel", cancelled)
        if cancelled.order is None:
            return RouteResult(client_order_id, prior.status, prior.route_requested,
                               prior.route_used, adapter_reason(name, cancelled.failure
                                                                or Failure.MALFORMED),
                               prior.fallback_reason, prior.policy_version,
                               prior.broker_order_id, prior.filled_qty or 0.0,
                               prior.filled_avg_price)
        return self._record_order(ctx, CANCEL, cancelled.order, prior.route_used, reason_code,
                                  prior.fallback_reason, adapter=name)

    def enforce_kill_switches(self) -> list[RouteResult]:
        """Cancel every open order an active kill switch covers (call at the start of a cycle
        and after setting a switch). Returns one result per order it tried to cancel."""
        if not kill_status(self.engine):
            return []
        with self.engine.connect() as conn:
            pairs = open_orders(conn, OPEN_STATUSES)
        results = []
        for order, _latest in pairs:
            kill = blocking_kill(self.engine, account=order.account, strategy=order.strategy,
                                 symbol=order.symbol)
            if kill is not None:
                results.append(self.cancel(order.client_order_id, kill_reason(kill.level)))
        return results

    # -- ledger writes ---------------------------------------------------------------------

    def _now(self) -> str:
        return iso(self.clock())

    def _event(self, ctx: _Context, kind: str, detail: dict[str, Any] | None = None,
               **columns: Any) -> None:
        with self.engine.begin() as conn:
            append_event(conn, ctx.ref, self._now(), kind, detail, **{**ctx.columns(), **columns})

    def _attempt(self, ctx: _Context, adapter: str, operation: str, result: AdapterResult) -> None:
        order = result.order
        self._event(ctx, ATTEMPT, detail={"message": result.message, **result.details},
                    adapter=adapter, operation=operation,
                    status=order.status if order else None,
                    reason_code=adapter_reason(adapter, result.failure) if result.failure else None,
                    broker_order_id=order.broker_order_id if order else None,
                    filled_qty=order.filled_qty if order else None,
                    filled_avg_price=order.filled_avg_price if order else None,
                    http_status=result.http_status, http_calls=result.http_calls)

    def _final(self, ctx: _Context, status: str, *, route_used: str | None = None,
               reason_code: str | None = None, fallback_reason: str | None = None,
               detail: dict[str, Any] | None = None) -> RouteResult:
        self._event(ctx, FINAL, detail=detail, status=status, route_used=route_used,
                    reason_code=reason_code, fallback_reason=fallback_reason)
        return RouteResult(ctx.ref.client_order_id, status, ctx.route_requested, route_used,
                           reason_code, fallback_reason, ctx.policy_version)

    def _final_from(self, ctx: _Context, outcome: _Outcome, route_used: str | None,
                    fallback_reason: str | None, detail: dict[str, Any] | None = None
                    ) -> RouteResult:
        if outcome.unknown:
            return self._final(ctx, "unknown", route_used=route_used,
                               reason_code=outcome.reason_code, fallback_reason=fallback_reason,
                               detail=detail)
        if outcome.order is not None:
            return self._record_order(ctx, FINAL, outcome.order, route_used, outcome.reason_code,
                                      fallback_reason, adapter=adapter_for_route(route_used or ""),
                                      detail=detail)
        status = "rejected" if outcome.reason_code and outcome.reason_code.endswith(
            "_rejected") and outcome.sent else "failed"
        return self._final(ctx, status, route_used=route_used, reason_code=outcome.reason_code,
                           fallback_reason=fallback_reason, detail=detail)

    def _record_order(self, ctx: _Context, kind: str, order: VenueOrder, route_used: str | None,
                      reason_code: str | None, fallback_reason: str | None, *, adapter: str,
                      detail: dict[str, Any] | None = None) -> RouteResult:
        self._event(ctx, kind, detail={**(detail or {}), "venue_status": order.venue_status,
                                       "venue_reason": order.reason},
                    adapter=adapter, status=order.status, route_used=route_used,
                    reason_code=reason_code, fallback_reason=fallback_reason,
                    broker_order_id=order.broker_order_id, filled_qty=order.filled_qty,
                    filled_avg_price=order.filled_avg_price)
        return RouteResult(ctx.ref.client_order_id, order.status, ctx.route_requested,
                           route_used, reason_code, fallback_reason, ctx.policy_version,
                           order.broker_order_id, order.filled_qty, order.filled_avg_price)

    def _replay(self, ctx: _Context, prior: Any) -> RouteResult:
        """Answer a repeated intent from the ledger: no venue is called again."""
        self._event(ctx, REPLAY, detail={"replayed_event_id": prior.id},
                    route_requested=prior.route_requested, route_used=prior.route_used,
                    adapter=prior.adapter, status=prior.status, reason_code=prior.reason_code,
                    fallback_reason=prior.fallback_reason,
                    broker_order_id=prior.broker_order_id, filled_qty=prior.filled_qty,
                    filled_avg_price=prior.filled_avg_price)
        result = _result_from_row(prior)
        return RouteResult(**{**result.__dict__, "replayed": True})

    def _evaluate_breakers(self, ctx: _Context) -> None:
        now = self.clock()
        breakers.evaluate(self.engine, STRATEGY, ctx.ref.strategy, self.breaker_config, now)
        for name in sorted(ctx.touched_adapters):
            breakers.evaluate(self.engine, ADAPTER, name, self.breaker_config, now)


def _result_from_row(row: Any) -> RouteResult:
    return RouteResult(row.client_order_id, row.status, row.route_requested, row.route_used,
                       row.reason_code, row.fallback_reason, row.policy_version,
                       row.broker_order_id, row.filled_qty or 0.0, row.filled_avg_price)


def adapters_from_env(fill_model: FillModel | None = None) -> dict[str, ExecutionAdapter]:
    """LEAN and Alpaca configured from the environment (unset means ``*_unconfigured`` on use),
    plus the simulator when a fill model is given."""
    adapters: dict[str, ExecutionAdapter] = {"lean": LeanAdapter.from_env(),
                                             "alpaca": AlpacaAdapter.from_env()}
    if fill_model is not None:
        adapters["simulated"] = SimulatedAdapter(fill_model)
    return adapters
