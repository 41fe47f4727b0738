"""research ledger: runs, folds, stress, gates, trials, promotion attempts, manifests

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

from qgap_assets.ledger import append_only

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = (
    "research_feature_contracts", "research_runs", "research_fold_metrics",
    "research_stress_metrics", "research_gate_results", "research_trials",
    "research_promotion_attempts", "research_manifests",
)


def upgrade() -> None:
    op.create_table(
        "research_feature_contracts",
        sa.Column("contract_hash", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_research_feature_contracts_name_version"),
    )
    op.create_table(
        "research_runs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("run_id", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("strategy", sa.String(128), nullable=False),
        sa.Column("feature_contract_name", sa.String(128), nullable=False),
        sa.Column("feature_contract_version", sa.String(32), nullable=False),
        sa.Column("feature_contract_hash", sa.String(64), nullable=False, index=True),
        sa.Column("dataset_hash", sa.String(64), nullable=False, index=True),
        sa.Column("dataset_ref", sa.Text, nullable=True),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("params_json", sa.Text, nullable=False),
        sa.Column("params_hash", sa.String(64), nullable=False),
        sa.Column("config_json", sa.Text, nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("execution_model_version", sa.String(32), nullable=False),
        sa.Column("execution_model_hash", sa.String(64), nullable=False),
        sa.Column("gate_policy_version", sa.String(32), nullable=False),
        sa.Column("gate_policy_hash", sa.String(64), nullable=False),
        sa.Column("environment_json", sa.Text, nullable=False),
        sa.Column("dagster_run_id", sa.String(64), nullable=True),
        sa.Column("result_hash", sa.String(64), nullable=False),
        sa.Column("funnel_json", sa.Text, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("record_hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_table(
        "research_fold_metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("research_runs.run_id"), nullable=False,
                  index=True),
        sa.Column("fold_index", sa.Integer, nullable=False),
        sa.Column("train_start", sa.String(10), nullable=False),
        sa.Column("train_end", sa.String(10), nullable=False),
        sa.Column("test_start", sa.String(10), nullable=False),
        sa.Column("test_end", sa.String(10), nullable=False),
        sa.Column("n_train_sessions", sa.Integer, nullable=False),
        sa.Column("n_test_sessions", sa.Integer, nullable=False),
        sa.Column("params_json", sa.Text, nullable=False),
        sa.Column("signals", sa.Integer, nullable=False),
        sa.Column("decisions", sa.Integer, nullable=False),
        sa.Column("trades", sa.Integer, nullable=False),
        sa.Column("pnl", sa.Float, nullable=False),
        sa.Column("sharpe", sa.Float, nullable=False),
        sa.Column("max_drawdown", sa.Float, nullable=False),
        sa.UniqueConstraint("run_id", "fold_index", name="uq_research_fold_metrics_run_fold"),
    )
    op.create_table(
        "research_stress_metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("research_runs.run_id"), nullable=False,
                  index=True),
        sa.Column("scenario", sa.String(64), nullable=False),
        sa.Column("pnl_total", sa.Float, nullable=False),
        sa.Column("sharpe", sa.Float, nullable=False),
        sa.Column("trades", sa.Integer, nullable=False),
        sa.Column("details_json", sa.Text, nullable=False),
        sa.UniqueConstraint("run_id", "scenario", name="uq_research_stress_metrics_run_scenario"),
    )
    op.create_table(
        "research_gate_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("research_runs.run_id"), nullable=False,
                  index=True),
        sa.Column("gate_order", sa.Integer, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("details_json", sa.Text, nullable=False),
        sa.UniqueConstraint("run_id", "name", name="uq_research_gate_results_run_name"),
    )
    op.create_table(
        "research_trials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("research_runs.run_id"), nullable=False,
                  index=True),
        sa.Column("strategy", sa.String(128), nullable=False),
        sa.Column("feature_contract_hash", sa.String(64), nullable=False),
        sa.Column("params_hash", sa.String(64), nullable=False),
        sa.Column("params_json", sa.Text, nullable=False),
        sa.Column("sharpe", sa.Float, nullable=False),
        sa.Column("n_obs", sa.Integer, nullable=False),
    )
    op.create_table(
        "research_promotion_attempts",
        sa.Column("attempt_id", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("research_runs.run_id"), nullable=False,
                  index=True),
        sa.Column("candidate_key", sa.String(64), nullable=False, index=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reasons_json", sa.Text, nullable=False),
        sa.Column("evidence_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "research_manifests",
        sa.Column("manifest_sha256", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("research_runs.run_id"), nullable=False),
        sa.Column("attempt_id", sa.String(64),
                  sa.ForeignKey("research_promotion_attempts.attempt_id"), nullable=False,
                  unique=True),
        sa.Column("candidate_key", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    for table in TABLES:
        append_only.install(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        append_only.uninstall(op, table)
        op.drop_table(table)
