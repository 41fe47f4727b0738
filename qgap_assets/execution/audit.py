"""Reading and appending the execution ledger (``execution_orders`` / ``execution_order_events``).

Only inserts and selects: the tables are append-only, so "the state of an order" is always
derived from its latest outcome event, never stored in place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select
from sqlalchemy.exc import IntegrityError

from qgap_assets.errors import LedgerError
from qgap_assets.execution.orders import OrderIntent
from qgap_assets.execution.records import execution_order_events, execution_orders
from qgap_assets.ledger.hashing import canonical_json, hash_obj

Bind = Engine | Connection
Clock = Callable[[], datetime]

# Event kinds. Every routing call ends in exactly one "final" event (refusals included).
ATTEMPT, FALLBACK, FINAL, REPLAY, CANCEL = "attempt", "fallback", "final", "replay", "cancel"
OUTCOME_KINDS = (FINAL, CANCEL)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """The ledger's timestamp format (same as ``hashing.utc_now_iso``), for any aware datetime."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


@contextmanager
def transaction(bind: Bind) -> Iterator[Connection]:
    """A connection in a transaction: a new one for an Engine, the caller's for a Connection."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    else:
        with nullcontext(bind) as conn:
            yield conn


@dataclass(frozen=True)
class OrderRef:
    """The columns copied onto every event of an order."""

    client_order_id: str
    strategy: str
    account: str
    symbol: str


def register_order(engine: Engine, intent: OrderIntent, account: str, created_at: str) -> str:
    """Ledger the intent once. Returns ``"new"``, ``"same"`` or ``"conflict"`` (the id exists
    with different content: a caller reused strategy/candidate/run/symbol/sequence)."""
    identity = intent.identity(account)
    digest = hash_obj(identity)
    coid = intent.client_order_id
    query = select(execution_orders.c.intent_hash).where(execution_orders.c.client_order_id == coid)
    for _ in range(2):  # the second pass reads what a concurrent router just registered
        with engine.connect() as conn:
            existing = conn.execute(query).scalar_one_or_none()
        if existing is not None:
            return "same" if existing == digest else "conflict"
        try:
            with engine.begin() as conn:
                conn.execute(insert(execution_orders).values(
                    client_order_id=coid, created_at=created_at, strategy=intent.strategy,
                    candidate=intent.candidate, run_id=intent.run_id, account=account,
                    symbol=intent.symbol, sequence=intent.sequence, side=intent.side,
                    qty=float(intent.qty), order_type=intent.order_type,
                    limit_price=intent.limit_price, time_in_force=intent.time_in_force,
                    intent_hash=digest, intent_json=canonical_json(identity)))
            return "new"
        except IntegrityError:
            continue
    raise LedgerError(f"execution_orders: could neither insert nor read client_order_id {coid}")


def append_event(conn: Connection, ref: OrderRef, created_at: str, kind: str,
                 detail: dict[str, Any] | None = None, **columns: Any) -> int:
    """Append one order event; returns its id."""
    result = conn.execute(insert(execution_order_events).values(
        client_order_id=ref.client_order_id, created_at=created_at, kind=kind,
        strategy=ref.strategy, account=ref.account, symbol=ref.symbol,
        detail_json=canonical_json(detail or {}), **columns))
    return int(result.inserted_primary_key[0])


def latest_outcome(conn: Connection, client_order_id: str) -> Any | None:
    """The order's latest ``final`` or ``cancel`` event (its current state), or None."""
    e = execution_order_events
    return conn.execute(
        select(e).where(and_(e.c.client_order_id == client_order_id, e.c.kind.in_(OUTCOME_KINDS)))
        .order_by(e.c.id.desc()).limit(1)).first()


def attempted_adapters(conn: Connection, client_order_id: str) -> list[str]:
    """Adapters that were sent a submit for this order, in order (for resolving "unknown")."""
    e = execution_order_events
    rows = conn.execute(
        select(e.c.adapter).where(and_(e.c.client_order_id == client_order_id,
                                       e.c.kind == ATTEMPT, e.c.operation == "submit"))
        .order_by(e.c.id)).scalars()
    return list(dict.fromkeys(rows))


def open_orders(conn: Connection, open_statuses: frozenset[str]) -> list[tuple[Any, Any]]:
    """(order row, latest outcome event) for every order whose current state is open.

    Only orders that were ever open are examined, not the whole history.
    """
    e, o = execution_order_events, execution_orders
    candidates = conn.execute(
        select(e.c.client_order_id).where(and_(e.c.kind.in_(OUTCOME_KINDS),
                                               e.c.status.in_(sorted(open_statuses))))
        .distinct()).scalars().all()
    result = []
    for coid in sorted(candidates):
        latest = latest_outcome(conn, coid)
        if latest is not None and latest.status in open_statuses:
            order = conn.execute(select(o).where(o.c.client_order_id == coid)).one()
            result.append((order, latest))
    return result
