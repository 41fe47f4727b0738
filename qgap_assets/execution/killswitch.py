"""Kill switches at global, account, strategy and symbol level, persisted in the ledger.

Precedence is global > account > strategy > symbol, and it is structural: an order is blocked
when *any* level that covers it is on, and the level reported is the highest one. There is no
"enable" action, only set and clear of a level's own switch, so nothing done at a lower level
can re-enable what a higher level stopped. When a switch is on the router refuses new orders
and :meth:`Router.enforce_kill_switches` cancels the open ones it covers.

The state of a switch is the latest ``execution_kill_events`` row for (level, key): setting and
clearing append rows, which keeps who did what, when and why.

The ``qgap kill {set,clear,status}`` sub-command is built by ``execution.cli.add_kill_parser``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select

from qgap_assets.errors import InputValidationError
from qgap_assets.execution.audit import Bind, Clock, iso, transaction, utc_now
from qgap_assets.execution.reasons import KILL_LEVELS
from qgap_assets.execution.records import execution_kill_events

LEVELS = KILL_LEVELS  # highest precedence first
GLOBAL_KEY = "*"


@dataclass(frozen=True)
class KillState:
    """One switch's latest event: ``active`` is True when it is set."""

    level: str
    scope_key: str
    active: bool
    reason: str
    actor: str
    since: str
    event_id: int


def _normalize(level: str, key: str | None) -> tuple[str, str]:
    if level not in LEVELS:
        raise InputValidationError(f"kill switch: level must be one of {list(LEVELS)}, "
                                   f"got {level!r}")
    if level == "global":
        if key not in (None, "", GLOBAL_KEY):
            raise InputValidationError(f"kill switch: the global level takes no key, got {key!r}")
        return level, GLOBAL_KEY
    if not key or not key.strip():
        raise InputValidationError(f"kill switch: level {level!r} needs a key (the {level} name)")
    return level, key.strip()


def _states(bind: Bind) -> dict[tuple[str, str], KillState]:
    k = execution_kill_events
    states: dict[tuple[str, str], KillState] = {}
    with transaction(bind) as conn:
        for row in conn.execute(select(k).order_by(k.c.id)):
            states[(row.level, row.scope_key)] = KillState(
                level=row.level, scope_key=row.scope_key, active=row.action == "set",
                reason=row.reason, actor=row.actor, since=row.created_at, event_id=row.id)
    return states


def _append(bind: Bind, level: str, key: str, action: str, reason: str, by: str,
            clock: Clock) -> KillState:
    if not reason or not reason.strip():
        raise InputValidationError(f"kill switch: a reason is required to {action} {level} "
                                   f"{key!r}")
    created_at = iso(clock())
    with transaction(bind) as conn:
        event_id = conn.execute(insert(execution_kill_events).values(
            created_at=created_at, level=level, scope_key=key, action=action,
            reason=reason.strip(), actor=by)).inserted_primary_key[0]
    return KillState(level, key, action == "set", reason.strip(), by, created_at, int(event_id))


def set_kill(bind: Bind, level: str, key: str | None, reason: str, by: str, *,
             clock: Clock = utc_now) -> KillState:
    """Turn a switch on (again, if it already is: the new reason is recorded)."""
    level, key = _normalize(level, key)
    return _append(bind, level, key, "set", reason, by, clock)


def clear_kill(bind: Bind, level: str, key: str | None, reason: str, by: str, *,
               clock: Clock = utc_now) -> KillState | None:
    """Turn a switch off. Returns None (and writes nothing) when it was not on.

    Clearing a level never lifts a higher one: orders stay blocked while any covering level is on.
    """
    level, key = _normalize(level, key)
    current = _states(bind).get((level, key))
    if current is None or not current.active:
        return None
    return _append(bind, level, key, "clear", reason, by, clock)


def kill_status(bind: Bind, *, include_cleared: bool = False) -> list[KillState]:
    """Active switches (and cleared ones on request), highest precedence first."""
    states = [s for s in _states(bind).values() if s.active or include_cleared]
    return sorted(states, key=lambda s: (LEVELS.index(s.level), s.scope_key))


def blocking_kill(bind: Bind, *, account: str, strategy: str, symbol: str) -> KillState | None:
    """The highest-precedence active switch covering this order, or None when it may trade."""
    states = _states(bind)
    for level, key in zip(LEVELS, (GLOBAL_KEY, account, strategy, symbol)):
        state = states.get((level, key))
        if state is not None and state.active:
            return state
    return None
