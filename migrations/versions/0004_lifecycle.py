"""lifecycle: promotion decision reports, lifecycle events, approvals, canary runs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

from qgap_assets.ledger import append_only

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("promotion_decision_reports", "promotion_lifecycle_events", "promotion_approvals",
          "promotion_canary_runs")


def upgrade() -> None:
    op.create_table(
        "promotion_decision_reports",
        sa.Column("attempt_id", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False, index=True),
        sa.Column("candidate_key", sa.String(64), nullable=False, index=True),
        sa.Column("strategy", sa.String(128), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reasons_json", sa.Text, nullable=False),
        sa.Column("gate_policy_version", sa.String(32), nullable=False),
        sa.Column("gate_policy_hash", sa.String(64), nullable=False),
        sa.Column("artifact_kind", sa.String(16), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("artifact_path", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "promotion_lifecycle_events",
        sa.Column("event_id", sa.String(32), primary_key=True),
        sa.Column("candidate_key", sa.String(64), nullable=False, index=True),
        sa.Column("strategy", sa.String(128), nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("from_state", sa.String(24), nullable=False),
        sa.Column("to_state", sa.String(24), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("reason_code", sa.String(48), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("context_json", sa.Text, nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=True),
        sa.Column("ramp_stage_index", sa.Integer, nullable=True),
        sa.Column("capital_fraction", sa.Float, nullable=True),
        sa.Column("rollback_to", sa.String(64), nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("candidate_key", "seq",
                            name="uq_promotion_lifecycle_events_candidate_seq"),
    )
    op.create_table(
        "promotion_approvals",
        sa.Column("approval_id", sa.String(32), primary_key=True),
        sa.Column("candidate_key", sa.String(64), nullable=False, index=True),
        sa.Column("approver", sa.String(128), nullable=False),
        sa.Column("approver_key", sa.String(128), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("candidate_key", "approver_key",
                            name="uq_promotion_approvals_candidate_approver"),
    )
    op.create_table(
        "promotion_canary_runs",
        sa.Column("canary_run_id", sa.String(32), primary_key=True),
        sa.Column("candidate_key", sa.String(64), nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("phase", sa.String(8), nullable=False),
        sa.Column("event_seq", sa.Integer, nullable=False),
        sa.Column("ramp_stage_index", sa.Integer, nullable=True),
        sa.Column("session", sa.String(10), nullable=False),
        sa.Column("adapter", sa.String(32), nullable=False),
        sa.Column("clean", sa.Boolean, nullable=False),
        sa.Column("critical", sa.Boolean, nullable=False),
        sa.Column("regressions_json", sa.Text, nullable=False),
        sa.Column("details_json", sa.Text, nullable=False),
        sa.Column("observed_json", sa.Text, nullable=False),
        sa.Column("expected_json", sa.Text, nullable=False),
        sa.Column("pnl", sa.Float, nullable=False),
        sa.Column("expected_pnl", sa.Float, nullable=False),
        sa.Column("pnl_upper_bound", sa.Float, nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("candidate_key", "seq", name="uq_promotion_canary_runs_candidate_seq"),
    )
    for table in TABLES:
        append_only.install(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        append_only.uninstall(op, table)
        op.drop_table(table)
