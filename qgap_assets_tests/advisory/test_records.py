"""Migration 0003 creates exactly the advisory tables of ``records.py``, all append-only."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from qgap_assets.advisory import (AdvisoryService, CandidateEvidence, ChallengeReview, PaperRun,
                                  RuleBasedReviewer, Stage, StageTransition,
                                  evaluate_control_validation, record_challenge_review,
                                  record_control_validation, transition_stage)
from qgap_assets.advisory.records import ADVISORY_TABLES
from qgap_assets.ledger import db
from qgap_assets.ledger.models import metadata

SQL_TYPES = {"String": {"VARCHAR"}, "Text": {"TEXT"}, "Integer": {"INTEGER"},
             "Float": {"FLOAT", "DOUBLE_PRECISION", "REAL"}, "Boolean": {"BOOLEAN"}}


def test_migration_matches_the_models_and_downgrades(empty_db_url: str) -> None:
    db.upgrade(empty_db_url, "0003")
    engine = db.make_engine(empty_db_url)
    insp = inspect(engine)
    for name in ADVISORY_TABLES:
        model = metadata.tables[name]
        live = {c["name"]: c for c in insp.get_columns(name)}
        assert list(live) == [c.name for c in model.columns], name
        for col in model.columns:
            assert live[col.name]["nullable"] == col.nullable, (name, col.name)
            assert type(live[col.name]["type"]).__name__ in SQL_TYPES[type(col.type).__name__], (
                name, col.name)
        assert insp.get_pk_constraint(name)["constrained_columns"] == [
            c.name for c in model.primary_key.columns]
    uniques = {u["name"] for u in insp.get_unique_constraints("advisory_stage_events")}
    assert "uq_advisory_stage_events_strategy_seq" in uniques
    db.downgrade(empty_db_url, "0002")
    assert not set(ADVISORY_TABLES) & set(inspect(engine).get_table_names())
    engine.dispose()


def test_every_advisory_table_refuses_update_and_delete(engine: Engine) -> None:
    runs = [PaperRun(pnl=1.0, fills=1, errors=0)]
    record_control_validation(engine, evaluate_control_validation("s", "c", runs, runs))
    record_challenge_review(engine, ChallengeReview(strategy="s", candidate_key="c", reviewer="r",
                                                    candidate_approvers=("a",), findings=("f",),
                                                    outcome="cleared"))
    transition_stage(engine, StageTransition(strategy="s", to_stage=Stage.PAPER_REVIEW,
                                             approver="a"))
    AdvisoryService(engine, RuleBasedReviewer()).advise(
        CandidateEvidence(candidate_key="c", strategy="s"))
    for name in ADVISORY_TABLES:
        table = metadata.tables[name]
        with engine.connect() as conn:
            assert len(conn.execute(select(table)).all()) == 1, name
        column = next(c.name for c in table.columns if c.name == "strategy")
        for stmt in (f"UPDATE {name} SET {column} = 'x'", f"DELETE FROM {name}"):
            with pytest.raises(DBAPIError, match="append-only"):
                with engine.begin() as conn:
                    conn.execute(text(stmt))
