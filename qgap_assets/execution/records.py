"""The execution area's ledger tables (SQLAlchemy Core, on the shared ledger ``metadata``).

Every table is append-only (the 0002 migration installs the refusing triggers), so persisted
*state* is never a row that gets updated: the kill switch and the circuit breakers are event
tables and the current state is the latest event for a key. That keeps the full history of who
stopped what and why, which is the point of an audit trail, and it is the same on SQLite and
PostgreSQL.

``migrations/versions/0002_execution.py`` mirrors these definitions column for column; the
drift test in ``qgap_assets_tests/execution/test_records_migration.py`` compares them.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Integer, String, Table, Text

from qgap_assets.ledger.schema import metadata

execution_orders = Table(
    "execution_orders", metadata,
    # One row per order intent, written before anything is sent anywhere. The primary key is
    # the deterministic client order id, so the same intent can never be ledgered twice.
    Column("client_order_id", String(64), primary_key=True),
    Column("created_at", String(40), nullable=False),
    Column("strategy", String(128), nullable=False, index=True),
    Column("candidate", String(128), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("account", String(128), nullable=False),
    Column("symbol", String(32), nullable=False, index=True),
    Column("sequence", Integer, nullable=False),
    Column("side", String(4), nullable=False),
    Column("qty", Float, nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("limit_price", Float, nullable=True),
    Column("time_in_force", String(8), nullable=False),
    Column("intent_hash", String(64), nullable=False),
    Column("intent_json", Text, nullable=False),
)

execution_order_events = Table(
    "execution_order_events", metadata,
    # Every step the router takes for an order: adapter calls (kind "attempt"), the decision to
    # fall back ("fallback"), the outcome ("final"), refusals ("refused"), idempotent replays
    # ("replay") and cancellations ("cancel"). strategy/account/symbol are copied from the order
    # so breakers, the kill switch and the alert sensor query one table.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_order_id", String(64), ForeignKey("execution_orders.client_order_id"),
           nullable=False, index=True),
    Column("created_at", String(40), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("strategy", String(128), nullable=False, index=True),
    Column("account", String(128), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("route_requested", String(16), nullable=True),
    Column("route_used", String(16), nullable=True),
    Column("adapter", String(16), nullable=True),
    Column("operation", String(16), nullable=True),
    Column("status", String(24), nullable=True),
    Column("reason_code", String(48), nullable=True),
    Column("fallback_reason", String(48), nullable=True),
    Column("policy_version", String(64), nullable=True),
    Column("policy_hash", String(64), nullable=True),
    Column("risk_reducing", Boolean, nullable=True),
    Column("broker_order_id", String(64), nullable=True),
    Column("filled_qty", Float, nullable=True),
    Column("filled_avg_price", Float, nullable=True),
    Column("http_status", Integer, nullable=True),
    Column("http_calls", Integer, nullable=True),
    Column("detail_json", Text, nullable=False),
)

execution_kill_events = Table(
    "execution_kill_events", metadata,
    # Kill switch history; the state of (level, scope_key) is its latest row.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", String(40), nullable=False),
    Column("level", String(16), nullable=False),
    Column("scope_key", String(128), nullable=False),
    Column("action", String(8), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(128), nullable=False),
)

execution_breaker_events = Table(
    "execution_breaker_events", metadata,
    # Circuit breaker transitions; the state of (scope, scope_key) is its latest row's to_state.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", String(40), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("scope_key", String(128), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("actor", String(128), nullable=True),
    Column("detail_json", Text, nullable=False),
)

execution_pnl_marks = Table(
    "execution_pnl_marks", metadata,
    # Daily P&L marks reported by the caller; the daily loss breaker reads the latest mark of
    # the session date.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", String(40), nullable=False),
    Column("strategy", String(128), nullable=False, index=True),
    Column("session_date", String(10), nullable=False),
    Column("pnl", Float, nullable=False),
)

EXECUTION_TABLES = (
    "execution_orders", "execution_order_events", "execution_kill_events",
    "execution_breaker_events", "execution_pnl_marks",
)
