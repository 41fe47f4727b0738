"""The research ledger's tables (SQLAlchemy Core).

Append-only by construction (triggers installed by the migrations, see ``append_only``).
Timestamps are ISO-8601 UTC strings and JSON payloads are canonical JSON text, so a row reads
back byte-for-byte as it was hashed, on SQLite and PostgreSQL alike. Other areas (execution,
advisory, lifecycle) add their tables to the same ``metadata`` in their own modules.
"""

from __future__ import annotations

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Integer, MetaData, String, Table,
                        Text, UniqueConstraint)

metadata = MetaData()

research_feature_contracts = Table(
    "research_feature_contracts", metadata,
    Column("contract_hash", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("version", String(32), nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    UniqueConstraint("name", "version", name="uq_research_feature_contracts_name_version"),
)

research_runs = Table(
    "research_runs", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("run_id", String(64), nullable=False, unique=True),
    Column("created_at", String(40), nullable=False),
    Column("strategy", String(128), nullable=False),
    Column("feature_contract_name", String(128), nullable=False),
    Column("feature_contract_version", String(32), nullable=False),
    Column("feature_contract_hash", String(64), nullable=False, index=True),
    Column("dataset_hash", String(64), nullable=False, index=True),
    Column("dataset_ref", Text, nullable=True),
    Column("code_hash", String(64), nullable=False),
    Column("params_json", Text, nullable=False),
    Column("params_hash", String(64), nullable=False),
    Column("config_json", Text, nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("execution_model_version", String(32), nullable=False),
    Column("execution_model_hash", String(64), nullable=False),
    Column("gate_policy_version", String(32), nullable=False),
    Column("gate_policy_hash", String(64), nullable=False),
    Column("environment_json", Text, nullable=False),
    Column("dagster_run_id", String(64), nullable=True),
    Column("result_hash", String(64), nullable=False),
    Column("funnel_json", Text, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("prev_hash", String(64), nullable=False, unique=True),
    Column("record_hash", String(64), nullable=False, unique=True),
)

research_fold_metrics = Table(
    "research_fold_metrics", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("research_runs.run_id"), nullable=False, index=True),
    Column("fold_index", Integer, nullable=False),
    Column("train_start", String(10), nullable=False),
    Column("train_end", String(10), nullable=False),
    Column("test_start", String(10), nullable=False),
    Column("test_end", String(10), nullable=False),
    Column("n_train_sessions", Integer, nullable=False),
    Column("n_test_sessions", Integer, nullable=False),
    Column("params_json", Text, nullable=False),
    Column("signals", Integer, nullable=False),
    Column("decisions", Integer, nullable=False),
    Column("trades", Integer, nullable=False),
    Column("pnl", Float, nullable=False),
    Column("sharpe", Float, nullable=False),
    Column("max_drawdown", Float, nullable=False),
    UniqueConstraint("run_id", "fold_index", name="uq_research_fold_metrics_run_fold"),
)

research_stress_metrics = Table(
    "research_stress_metrics", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("research_runs.run_id"), nullable=False, index=True),
    Column("scenario", String(64), nullable=False),
    Column("pnl_total", Float, nullable=False),
    Column("sharpe", Float, nullable=False),
    Column("trades", Integer, nullable=False),
    Column("details_json", Text, nullable=False),
    UniqueConstraint("run_id", "scenario", name="uq_research_stress_metrics_run_scenario"),
)

research_gate_results = Table(
    "research_gate_results", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("research_runs.run_id"), nullable=False, index=True),
    Column("gate_order", Integer, nullable=False),
    Column("name", String(64), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("reason_code", String(64), nullable=True),
    Column("details_json", Text, nullable=False),
    UniqueConstraint("run_id", "name", name="uq_research_gate_results_run_name"),
)

research_trials = Table(
    "research_trials", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("research_runs.run_id"), nullable=False, index=True),
    Column("strategy", String(128), nullable=False),
    Column("feature_contract_hash", String(64), nullable=False),
    Column("params_hash", String(64), nullable=False),
    Column("params_json", Text, nullable=False),
    Column("sharpe", Float, nullable=False),
    Column("n_obs", Integer, nullable=False),
)

research_promotion_attempts = Table(
    "research_promotion_attempts", metadata,
    Column("attempt_id", String(64), primary_key=True),
    Column("run_id", String(64), ForeignKey("research_runs.run_id"), nullable=False, index=True),
    Column("candidate_key", String(64), nullable=False, index=True),
    Column("decision", String(16), nullable=False),
    Column("reasons_json", Text, nullable=False),
    Column("evidence_json", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)

research_manifests = Table(
    "research_manifests", metadata,
    Column("manifest_sha256", String(64), primary_key=True),
    Column("run_id", String(64), ForeignKey("research_runs.run_id"), nullable=False),
    Column("attempt_id", String(64), ForeignKey("research_promotion_attempts.attempt_id"),
           nullable=False, unique=True),
    Column("candidate_key", String(64), nullable=False),
    Column("path", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)

research_window_metrics = Table(
    "research_window_metrics", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("window_name", String(32), nullable=False),
    Column("result_hash", String(64), nullable=False, index=True),
    Column("params_json", Text, nullable=False),
    Column("execution_model_hash", String(64), nullable=False),
    Column("pnl_total", Float, nullable=False),
    Column("sharpe", Float, nullable=False),
    Column("max_drawdown", Float, nullable=False),
    Column("days", Integer, nullable=False),
    Column("metrics_json", Text, nullable=False),
    Column("artifact_ref", Text, nullable=False),
    Column("dagster_run_id", String(64), nullable=True),
    Column("created_at", String(40), nullable=False),
)

RESEARCH_TABLES = (
    "research_feature_contracts", "research_runs", "research_fold_metrics",
    "research_stress_metrics", "research_gate_results", "research_trials",
    "research_promotion_attempts", "research_manifests", "research_window_metrics",
)
