"""execution: orders, order events, kill switch, circuit breakers, P&L marks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Mirrors ``qgap_assets/execution/records.py`` column for column (a drift test compares them).
"""
from alembic import op
import sqlalchemy as sa

from qgap_assets.ledger import append_only

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (
    "execution_orders", "execution_order_events", "execution_kill_events",
    "execution_breaker_events", "execution_pnl_marks",
)


def upgrade() -> None:
    op.create_table(
        "execution_orders",
        sa.Column("client_order_id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("strategy", sa.String(128), nullable=False, index=True),
        sa.Column("candidate", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False, index=True),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", sa.Float, nullable=False),
        sa.Column("order_type", sa.String(16), nullable=False),
        sa.Column("limit_price", sa.Float, nullable=True),
        sa.Column("time_in_force", sa.String(8), nullable=False),
        sa.Column("intent_hash", sa.String(64), nullable=False),
        sa.Column("intent_json", sa.Text, nullable=False),
    )
    op.create_table(
        "execution_order_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_order_id", sa.String(64),
                  sa.ForeignKey("execution_orders.client_order_id"), nullable=False, index=True),
        sa.Column("created_at", sa.String(40), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("strategy", sa.String(128), nullable=False, index=True),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("route_requested", sa.String(16), nullable=True),
        sa.Column("route_used", sa.String(16), nullable=True),
        sa.Column("adapter", sa.String(16), nullable=True),
        sa.Column("operation", sa.String(16), nullable=True),
        sa.Column("status", sa.String(24), nullable=True),
        sa.Column("reason_code", sa.String(48), nullable=True),
        sa.Column("fallback_reason", sa.String(48), nullable=True),
        sa.Column("policy_version", sa.String(64), nullable=True),
        sa.Column("policy_hash", sa.String(64), nullable=True),
        sa.Column("risk_reducing", sa.Boolean, nullable=True),
        sa.Column("broker_order_id", sa.String(64), nullable=True),
        sa.Column("filled_qty", sa.Float, nullable=True),
        sa.Column("filled_avg_price", sa.Float, nullable=True),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("http_calls", sa.Integer, nullable=True),
        sa.Column("detail_json", sa.Text, nullable=False),
    )
    op.create_table(
        "execution_kill_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("scope_key", sa.String(128), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    op.create_table(
        "execution_breaker_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("scope_key", sa.String(128), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("detail_json", sa.Text, nullable=False),
    )
    op.create_table(
        "execution_pnl_marks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("strategy", sa.String(128), nullable=False, index=True),
        sa.Column("session_date", sa.String(10), nullable=False),
        sa.Column("pnl", sa.Float, nullable=False),
    )
    for table in TABLES:
        append_only.install(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        append_only.uninstall(op, table)
        op.drop_table(table)
