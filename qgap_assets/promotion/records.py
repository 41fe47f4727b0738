"""The promotion area's ledger tables (SQLAlchemy Core, on the shared ``metadata``).

All append-only (triggers installed by migration 0004). A candidate's lifecycle state is the
replay of its events, never an updated row; ``(candidate_key, seq)`` is unique in the events and
canary runs, so two writers who read the same state cannot both append from it. Approvals are
unique per ``(candidate_key, approver_key)``: the database itself refuses a second approval by
the same person. JSON payloads are canonical JSON text; timestamps ISO-8601 UTC strings.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Integer, String, Table, Text, UniqueConstraint

from qgap_assets.ledger.schema import metadata

promotion_decision_reports = Table(
    "promotion_decision_reports", metadata,
    Column("attempt_id", String(64), primary_key=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("candidate_key", String(64), nullable=False, index=True),
    Column("strategy", String(128), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("reasons_json", Text, nullable=False),
    Column("gate_policy_version", String(32), nullable=False),
    Column("gate_policy_hash", String(64), nullable=False),
    Column("artifact_kind", String(16), nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("artifact_path", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)

promotion_lifecycle_events = Table(
    "promotion_lifecycle_events", metadata,
    Column("event_id", String(32), primary_key=True),
    Column("candidate_key", String(64), nullable=False, index=True),
    Column("strategy", String(128), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("from_state", String(24), nullable=False),
    Column("to_state", String(24), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("reason_code", String(48), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("detail", Text, nullable=False),
    Column("context_json", Text, nullable=False),
    Column("manifest_sha256", String(64), nullable=True),
    Column("ramp_stage_index", Integer, nullable=True),
    Column("capital_fraction", Float, nullable=True),
    Column("rollback_to", String(64), nullable=True),
    Column("created_at", String(40), nullable=False),
    UniqueConstraint("candidate_key", "seq", name="uq_promotion_lifecycle_events_candidate_seq"),
)

promotion_approvals = Table(
    "promotion_approvals", metadata,
    Column("approval_id", String(32), primary_key=True),
    Column("candidate_key", String(64), nullable=False, index=True),
    Column("approver", String(128), nullable=False),
    Column("approver_key", String(128), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    UniqueConstraint("candidate_key", "approver_key", name="uq_promotion_approvals_candidate_approver"),
)

promotion_canary_runs = Table(
    "promotion_canary_runs", metadata,
    Column("canary_run_id", String(32), primary_key=True),
    Column("candidate_key", String(64), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("phase", String(8), nullable=False),
    Column("event_seq", Integer, nullable=False),
    Column("ramp_stage_index", Integer, nullable=True),
    Column("session", String(10), nullable=False),
    Column("adapter", String(32), nullable=False),
    Column("clean", Boolean, nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("regressions_json", Text, nullable=False),
    Column("details_json", Text, nullable=False),
    Column("observed_json", Text, nullable=False),
    Column("expected_json", Text, nullable=False),
    Column("pnl", Float, nullable=False),
    Column("expected_pnl", Float, nullable=False),
    Column("pnl_upper_bound", Float, nullable=True),
    Column("created_at", String(40), nullable=False),
    UniqueConstraint("candidate_key", "seq", name="uq_promotion_canary_runs_candidate_seq"),
)

PROMOTION_TABLES = ("promotion_decision_reports", "promotion_lifecycle_events",
                    "promotion_approvals", "promotion_canary_runs")
