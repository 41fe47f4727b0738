"""research_window_metrics: the candidate's metrics on each named replay window

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

from qgap_assets.ledger import append_only

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "research_window_metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("window_name", sa.String(32), nullable=False),
        sa.Column("result_hash", sa.String(64), nullable=False, index=True),
        sa.Column("params_json", sa.Text, nullable=False),
        sa.Column("execution_model_hash", sa.String(64), nullable=False),
        sa.Column("pnl_total", sa.Float, nullable=False),
        sa.Column("sharpe", sa.Float, nullable=False),
        sa.Column("max_drawdown", sa.Float, nullable=False),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.Column("artifact_ref", sa.Text, nullable=False),
        sa.Column("dagster_run_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    append_only.install(op, "research_window_metrics")


def downgrade() -> None:
    append_only.uninstall(op, "research_window_metrics")
    op.drop_table("research_window_metrics")
