"""Circuit breakers per adapter and per strategy: ACTIVE -> REDUCING -> HALTED.

Vocabulary as in NautilusTrader's trading states: ACTIVE trades normally, REDUCING lets only
risk-reducing orders through, HALTED lets nothing through. Triggers (thresholds in
:class:`BreakerConfig`): consecutive failures, fallback rate and reject rate over the last N
orders, and a daily loss limit (strategies only: the latest ``execution_pnl_marks`` row whose
session date is the UTC date of ``now``). A breaker escalates as soon as a trigger says so; it
steps down one level at a time, and only after ``cooldown_s`` in its state with no trigger
asking for at least that level. An operator can reset it to ACTIVE at any time. Every transition is an ``execution_breaker_events`` row.

Escalation counts what happened since the last de-escalation (cool-down step or manual reset),
so failures keep adding up through REDUCING into HALTED. A step down needs the cool-down to have
passed and nothing since entering the current state asking for it again; the step itself then
starts the counts afresh, so the failures that tripped a breaker cannot trip it again the
moment it re-opens. A daily loss is not an event count: it holds a strategy down until the
day's P&L recovers, the session date changes or the limit does.

Time is passed in (``now``): cool-downs are computed from ledger timestamps, never slept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, insert, select

from qgap_assets.errors import InputValidationError
from qgap_assets.execution.audit import FINAL, Bind, iso, transaction
from qgap_assets.execution.reasons import (ADAPTER_NAMES, BREAKER_FAILURES, Trigger,
                                           adapter_reason, halted_reason, reducing_reason)
from qgap_assets.execution.records import (execution_breaker_events, execution_order_events,
                                           execution_pnl_marks)
from qgap_assets.ledger.hashing import canonical_json

ADAPTER, STRATEGY = "adapter", "strategy"
SCOPES = (ADAPTER, STRATEGY)


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}
_BY_SEVERITY = {v: k for k, v in _SEVERITY.items()}


@dataclass(frozen=True)
class BreakerConfig:
    """Thresholds: each trigger has a REDUCING and a HALTED level (None disables a level).

    Rates are over the last ``window_orders`` orders and need ``min_orders`` before they count
    (two rejects out of two orders say little). ``daily_loss_*`` are positive currency amounts.
    """

    consecutive_failures_reducing: int | None = 3
    consecutive_failures_halted: int | None = 5
    window_orders: int = 20
    min_orders: int = 5
    fallback_rate_reducing: float | None = 0.5
    fallback_rate_halted: float | None = 0.8
    reject_rate_reducing: float | None = 0.3
    reject_rate_halted: float | None = 0.6
    daily_loss_reducing: float | None = None
    daily_loss_halted: float | None = None
    cooldown_s: float = 900.0


@dataclass(frozen=True)
class BreakerState:
    scope: str
    scope_key: str
    state: TradingState
    since: str | None
    trigger: str | None
    event_id: int | None


@dataclass(frozen=True)
class BreakerMetrics:
    consecutive_failures: int
    window_n: int
    fallback_rate: float
    reject_rate: float
    daily_loss: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _latest(conn: Any, scope: str, key: str) -> Any | None:
    b = execution_breaker_events
    return conn.execute(select(b).where(and_(b.c.scope == scope, b.c.scope_key == key))
                        .order_by(b.c.id.desc()).limit(1)).first()


def _baseline(conn: Any, scope: str, key: str) -> str:
    """Timestamp of the last de-escalation ("" when there was none)."""
    b = execution_breaker_events
    row = conn.execute(
        select(b.c.created_at).where(and_(
            b.c.scope == scope, b.c.scope_key == key,
            b.c.trigger.in_([Trigger.COOLDOWN.value, Trigger.MANUAL_RESET.value])))
        .order_by(b.c.id.desc()).limit(1)).scalar_one_or_none()
    return row or ""


def breaker_state(bind: Bind, scope: str, key: str) -> BreakerState:
    """Current state of one breaker (ACTIVE when it has never moved)."""
    with transaction(bind) as conn:
        row = _latest(conn, scope, key)
    if row is None:
        return BreakerState(scope, key, TradingState.ACTIVE, None, None, None)
    return BreakerState(scope, key, TradingState(row.to_state), row.created_at, row.trigger,
                        row.id)


def breaker_status(bind: Bind) -> list[BreakerState]:
    """Every breaker that has ever moved, with its current state."""
    b = execution_breaker_events
    with transaction(bind) as conn:
        keys = conn.execute(select(b.c.scope, b.c.scope_key).distinct()).all()
    return sorted((breaker_state(bind, scope, key) for scope, key in keys),
                  key=lambda s: (s.scope, s.scope_key))


def _trailing(values: list[bool]) -> int:
    count = 0
    for value in reversed(values):
        if not value:
            break
        count += 1
    return count


def _rate(flags: list[bool], config: BreakerConfig) -> float:
    return sum(flags) / len(flags) if len(flags) >= config.min_orders else 0.0


def metrics(bind: Bind, scope: str, key: str, config: BreakerConfig, now: datetime,
            since: str | None = None) -> BreakerMetrics:
    """What the triggers look at, counted after ``since`` (default: the breaker's last
    de-escalation)."""
    e = execution_order_events
    with transaction(bind) as conn:
        if since is None:
            since = _baseline(conn, scope, key)
        # Only the most recent rows matter (the window, or a failure streak that already
        # reached the highest threshold), so the queries stay bounded as the ledger grows.
        depth = max(config.window_orders, config.consecutive_failures_reducing or 0,
                    config.consecutive_failures_halted or 0)

        def latest(query: Any) -> list[Any]:
            return list(reversed(conn.execute(query.order_by(e.c.id.desc()).limit(depth)).all()))

        finals = select(e).where(and_(e.c.kind == FINAL, e.c.created_at > since,
                                      e.c.status != "refused"))
        if scope == ADAPTER:
            failure_codes = {adapter_reason(key, f) for f in BREAKER_FAILURES}
            attempts = [row.reason_code for row in latest(
                select(e.c.id, e.c.reason_code).where(and_(
                    e.c.kind == "attempt", e.c.operation == "submit", e.c.adapter == key,
                    e.c.created_at > since)))]
            failures = [code in failure_codes for code in attempts]
            window = attempts[-config.window_orders:]
            rejects = [code == adapter_reason(key, "rejected") for code in window]
            routed = latest(finals.where(e.c.route_requested == key))[-config.window_orders:]
            breaker_caused = {halted_reason(key), reducing_reason(key)}
            fallbacks = [r.fallback_reason is not None and r.fallback_reason not in breaker_caused
                         for r in routed]
            return BreakerMetrics(_trailing(failures), len(window), _rate(fallbacks, config),
                                  _rate(rejects, config), 0.0)
        rows = latest(finals.where(e.c.strategy == key))
        window_rows = rows[-config.window_orders:]
        breaker_caused = {halted_reason(a) for a in ADAPTER_NAMES} | {
            reducing_reason(a) for a in ADAPTER_NAMES}
        pnl = conn.execute(
            select(execution_pnl_marks.c.pnl).where(and_(
                execution_pnl_marks.c.strategy == key,
                execution_pnl_marks.c.session_date == now.date().isoformat()))
            .order_by(execution_pnl_marks.c.id.desc()).limit(1)).scalar_one_or_none()
    return BreakerMetrics(
        consecutive_failures=_trailing([r.status in ("failed", "unknown") for r in rows]),
        window_n=len(window_rows),
        fallback_rate=_rate([r.route_used == "alpaca_fallback"
                             and r.fallback_reason not in breaker_caused for r in window_rows],
                            config),
        reject_rate=_rate([r.status == "rejected" for r in window_rows], config),
        daily_loss=max(0.0, -pnl) if pnl is not None else 0.0)


def _level(value: float, reducing: float | None, halted: float | None) -> TradingState:
    if halted is not None and value >= halted:
        return TradingState.HALTED
    if reducing is not None and value >= reducing:
        return TradingState.REDUCING
    return TradingState.ACTIVE


def target_state(m: BreakerMetrics, config: BreakerConfig) -> tuple[TradingState, Trigger | None]:
    """The most severe state any trigger asks for, and the (first) trigger asking for it."""
    checks = [
        (Trigger.DAILY_LOSS, _level(m.daily_loss, config.daily_loss_reducing,
                                    config.daily_loss_halted) if m.daily_loss > 0
         else TradingState.ACTIVE),
        (Trigger.CONSECUTIVE_FAILURES, _level(m.consecutive_failures,
                                              config.consecutive_failures_reducing,
                                              config.consecutive_failures_halted)),
        (Trigger.FALLBACK_RATE, _level(m.fallback_rate, config.fallback_rate_reducing,
                                       config.fallback_rate_halted) if m.fallback_rate > 0
         else TradingState.ACTIVE),
        (Trigger.REJECT_RATE, _level(m.reject_rate, config.reject_rate_reducing,
                                     config.reject_rate_halted) if m.reject_rate > 0
         else TradingState.ACTIVE),
    ]
    worst = max(checks, key=lambda c: c[1].severity)
    return (worst[1], worst[0]) if worst[1] is not TradingState.ACTIVE else (
        TradingState.ACTIVE, None)


def _transition(bind: Bind, scope: str, key: str, from_state: TradingState,
                to_state: TradingState, trigger: Trigger, now: datetime, actor: str | None,
                detail: dict[str, Any]) -> BreakerState:
    created_at = iso(now)
    with transaction(bind) as conn:
        event_id = conn.execute(insert(execution_breaker_events).values(
            created_at=created_at, scope=scope, scope_key=key, from_state=from_state.value,
            to_state=to_state.value, trigger=trigger.value, actor=actor,
            detail_json=canonical_json(detail))).inserted_primary_key[0]
    return BreakerState(scope, key, to_state, created_at, trigger.value, int(event_id))


def evaluate(bind: Bind, scope: str, key: str, config: BreakerConfig, now: datetime
             ) -> BreakerState:
    """Move the breaker if its triggers or its cool-down say so; returns the resulting state."""
    current = breaker_state(bind, scope, key)
    m = metrics(bind, scope, key, config, now)
    target, trigger = target_state(m, config)
    detail = {"metrics": m.as_dict(), "config": config.__dict__}
    if target.severity > current.state.severity:
        return _transition(bind, scope, key, current.state, target, trigger, now, None, detail)
    if current.state is TradingState.ACTIVE or current.since is None:
        return current
    if now - datetime.fromisoformat(current.since) < timedelta(seconds=config.cooldown_s):
        return current
    # Cool-down over: step down unless something since entering this state asks for it again.
    recent = metrics(bind, scope, key, config, now, since=current.since)
    recent_target, _ = target_state(recent, config)
    if recent_target.severity < current.state.severity:
        step_down = _BY_SEVERITY[current.state.severity - 1]
        return _transition(bind, scope, key, current.state, step_down, Trigger.COOLDOWN, now,
                           None, {"metrics": recent.as_dict(), "config": config.__dict__})
    return current


def reset_breaker(bind: Bind, scope: str, key: str, by: str, reason: str, now: datetime
                  ) -> BreakerState:
    """Operator reset to ACTIVE (ledgered with who and why); metrics start afresh from here."""
    if scope not in SCOPES:
        raise InputValidationError(f"breaker: scope must be one of {SCOPES}, got {scope!r}")
    current = breaker_state(bind, scope, key)
    return _transition(bind, scope, key, current.state, TradingState.ACTIVE,
                       Trigger.MANUAL_RESET, now, by, {"reason": reason})


def record_pnl(bind: Bind, strategy: str, session_date: str, pnl: float, now: datetime) -> None:
    """Report a strategy's P&L for a session date (the daily loss trigger reads the latest)."""
    with transaction(bind) as conn:
        conn.execute(insert(execution_pnl_marks).values(
            created_at=iso(now), strategy=strategy, session_date=session_date, pnl=float(pnl)))


def allows(state: TradingState, risk_reducing: bool) -> bool:
    """Whether a breaker in ``state`` lets an order through."""
    return state is TradingState.ACTIVE or (state is TradingState.REDUCING and risk_reducing)
