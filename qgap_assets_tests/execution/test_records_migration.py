"""Migration 0002 mirrors ``execution/records.py`` exactly, and every table is append-only."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect, insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from qgap_assets.execution.records import EXECUTION_TABLES
from qgap_assets.ledger import db
from qgap_assets.ledger.models import metadata

ROWS: dict[str, dict[str, Any]] = {
    "execution_orders": dict(
        client_order_id="qg-x", created_at="t", strategy="s", candidate="c", run_id="r",
        account="a", symbol="SPY", sequence=0, side="buy", qty=1.0, order_type="market",
        limit_price=None, time_in_force="day", intent_hash="h", intent_json="{}"),
    "execution_order_events": dict(
        client_order_id="qg-x", created_at="t", kind="final", strategy="s", account="a",
        symbol="SPY", status="refused", reason_code="no_route", detail_json="{}"),
    "execution_kill_events": dict(created_at="t", level="global", scope_key="*", action="set",
                                  reason="r", actor="me"),
    "execution_breaker_events": dict(created_at="t", scope="adapter", scope_key="lean",
                                     from_state="ACTIVE", to_state="HALTED",
                                     trigger="manual_reset", detail_json="{}"),
    "execution_pnl_marks": dict(created_at="t", strategy="s", session_date="2026-11-25",
                                pnl=-1.0),
}


def test_migration_matches_the_models(engine: Engine) -> None:
    execution = MetaData()
    for name in EXECUTION_TABLES:
        metadata.tables[name].to_metadata(execution)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "include_name": lambda name, type_, parent: (
                type_ != "table" or name in EXECUTION_TABLES)})
        diffs = compare_metadata(context, execution)
    assert diffs == []
    assert set(EXECUTION_TABLES) <= set(inspect(engine).get_table_names())


def test_every_execution_table_refuses_update_and_delete(engine: Engine) -> None:
    with engine.begin() as conn:
        for name in EXECUTION_TABLES:
            conn.execute(insert(metadata.tables[name]).values(**ROWS[name]))
    for name in EXECUTION_TABLES:
        column = next(iter(ROWS[name]))
        for stmt in (f"UPDATE {name} SET {column} = {column}", f"DELETE FROM {name}"):
            with pytest.raises(DBAPIError, match="append-only"):
                with engine.begin() as conn:
                    conn.execute(text(stmt))
    with engine.connect() as conn:
        for name in EXECUTION_TABLES:
            assert conn.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar_one() == 1


def test_upgrade_to_0002_and_back(empty_db_url: str) -> None:
    db.upgrade(empty_db_url, "0002")
    engine = db.make_engine(empty_db_url)
    assert set(EXECUTION_TABLES) <= set(inspect(engine).get_table_names())
    db.downgrade(empty_db_url, "0001")
    assert not set(EXECUTION_TABLES) & set(inspect(engine).get_table_names())
    assert db.current_revision(engine) == "0001"
    engine.dispose()
