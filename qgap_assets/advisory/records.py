"""The advisory area's ledger tables (SQLAlchemy Core, on the shared ``metadata``).

All four are append-only (triggers installed by migration 0003): the current stage of a
strategy is its latest stage event, never an updated row. ``(strategy, seq)`` is unique in
the stage events so two writers who read the same current stage cannot both append a
transition from it: one of them fails instead of skipping a stage between them.
JSON payloads are canonical JSON text; timestamps are ISO-8601 UTC strings.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Integer, String, Table, Text, UniqueConstraint

from qgap_assets.ledger.schema import metadata

advisory_stage_events = Table(
    "advisory_stage_events", metadata,
    Column("event_id", String(32), primary_key=True),
    Column("strategy", String(128), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("from_stage", String(16), nullable=False),
    Column("to_stage", String(16), nullable=False),
    Column("candidate_key", String(64), nullable=True),
    Column("approver", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("prerequisites_json", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    UniqueConstraint("strategy", "seq", name="uq_advisory_stage_events_strategy_seq"),
)

advisory_control_validations = Table(
    "advisory_control_validations", metadata,
    Column("validation_id", String(32), primary_key=True),
    Column("strategy", String(128), nullable=False, index=True),
    Column("candidate_key", String(64), nullable=False, index=True),
    Column("n_required", Integer, nullable=False),
    Column("n_advised", Integer, nullable=False),
    Column("n_control", Integer, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("reason_codes_json", Text, nullable=False),
    Column("metrics_json", Text, nullable=False),
    Column("criteria_json", Text, nullable=False),
    Column("advised_runs_json", Text, nullable=False),
    Column("control_runs_json", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)

advisory_challenge_reviews = Table(
    "advisory_challenge_reviews", metadata,
    Column("review_id", String(32), primary_key=True),
    Column("strategy", String(128), nullable=False, index=True),
    Column("candidate_key", String(64), nullable=False, index=True),
    Column("reviewer", String(128), nullable=False),
    Column("candidate_approvers_json", Text, nullable=False),
    Column("findings_json", Text, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("created_at", String(40), nullable=False),
)

advisory_calls = Table(
    "advisory_calls", metadata,
    Column("call_id", String(32), primary_key=True),
    Column("created_at", String(40), nullable=False),
    Column("strategy", String(128), nullable=False, index=True),
    Column("candidate_key", String(64), nullable=False, index=True),
    Column("stage", String(16), nullable=False),
    Column("lane", String(8), nullable=False),
    Column("paper_run_id", String(64), nullable=True),
    Column("backend", String(16), nullable=False),
    Column("model", String(128), nullable=False),
    Column("prompt_sha256", String(64), nullable=False),
    Column("evidence_sha256", String(64), nullable=False),
    Column("response_sha256", String(64), nullable=True),
    Column("verdict", String(24), nullable=True),
    Column("advice_json", Text, nullable=True),
    Column("intent_before_json", Text, nullable=False),
    Column("intent_after_json", Text, nullable=False),
    Column("counterfactual_intent_json", Text, nullable=True),
    Column("applied_json", Text, nullable=False),
    Column("clamped_json", Text, nullable=False),
    Column("refused_json", Text, nullable=False),
    Column("controls_json", Text, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("error_code", String(40), nullable=True),
    Column("error_detail", Text, nullable=True),
)

ADVISORY_TABLES = ("advisory_stage_events", "advisory_control_validations",
                   "advisory_challenge_reviews", "advisory_calls")
