"""advisory: stage events, control validations, challenge reviews, advisory calls

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa

from qgap_assets.ledger import append_only

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("advisory_stage_events", "advisory_control_validations", "advisory_challenge_reviews",
          "advisory_calls")


def upgrade() -> None:
    op.create_table(
        "advisory_stage_events",
        sa.Column("event_id", sa.String(32), primary_key=True),
        sa.Column("strategy", sa.String(128), nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("from_stage", sa.String(16), nullable=False),
        sa.Column("to_stage", sa.String(16), nullable=False),
        sa.Column("candidate_key", sa.String(64), nullable=True),
        sa.Column("approver", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("prerequisites_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("strategy", "seq", name="uq_advisory_stage_events_strategy_seq"),
    )
    op.create_table(
        "advisory_control_validations",
        sa.Column("validation_id", sa.String(32), primary_key=True),
        sa.Column("strategy", sa.String(128), nullable=False, index=True),
        sa.Column("candidate_key", sa.String(64), nullable=False, index=True),
        sa.Column("n_required", sa.Integer, nullable=False),
        sa.Column("n_advised", sa.Integer, nullable=False),
        sa.Column("n_control", sa.Integer, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("reason_codes_json", sa.Text, nullable=False),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.Column("criteria_json", sa.Text, nullable=False),
        sa.Column("advised_runs_json", sa.Text, nullable=False),
        sa.Column("control_runs_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "advisory_challenge_reviews",
        sa.Column("review_id", sa.String(32), primary_key=True),
        sa.Column("strategy", sa.String(128), nullable=False, index=True),
        sa.Column("candidate_key", sa.String(64), nullable=False, index=True),
        sa.Column("reviewer", sa.String(128), nullable=False),
        sa.Column("candidate_approvers_json", sa.Text, nullable=False),
        sa.Column("findings_json", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "advisory_calls",
        sa.Column("call_id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("strategy", sa.String(128), nullable=False, index=True),
        sa.Column("candidate_key", sa.String(64), nullable=False, index=True),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("lane", sa.String(8), nullable=False),
        sa.Column("paper_run_id", sa.String(64), nullable=True),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("prompt_sha256", sa.String(64), nullable=False),
        sa.Column("evidence_sha256", sa.String(64), nullable=False),
        sa.Column("response_sha256", sa.String(64), nullable=True),
        sa.Column("verdict", sa.String(24), nullable=True),
        sa.Column("advice_json", sa.Text, nullable=True),
        sa.Column("intent_before_json", sa.Text, nullable=False),
        sa.Column("intent_after_json", sa.Text, nullable=False),
        sa.Column("counterfactual_intent_json", sa.Text, nullable=True),
        sa.Column("applied_json", sa.Text, nullable=False),
        sa.Column("clamped_json", sa.Text, nullable=False),
        sa.Column("refused_json", sa.Text, nullable=False),
        sa.Column("controls_json", sa.Text, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("error_code", sa.String(40), nullable=True),
        sa.Column("error_detail", sa.Text, nullable=True),
    )
    for table in TABLES:
        append_only.install(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        append_only.uninstall(op, table)
        op.drop_table(table)
