from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from qgap_assets.errors import SchemaVersionError
from qgap_assets.ledger import db
from qgap_assets.ledger.schema import RESEARCH_TABLES


def test_upgrade_to_head_then_downgrade_to_base(empty_db_url: str) -> None:
    db.upgrade(empty_db_url)
    engine = db.make_engine(empty_db_url)
    assert set(RESEARCH_TABLES) <= set(inspect(engine).get_table_names())
    assert db.current_revision(engine) == db.head_revision()
    db.downgrade(empty_db_url, "base")
    assert not set(RESEARCH_TABLES) & set(inspect(engine).get_table_names())
    assert db.current_revision(engine) is None
    engine.dispose()


@pytest.mark.parametrize("table", ["research_feature_contracts"])
def test_database_refuses_update_and_delete(engine, table: str) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {table} (contract_hash, name, version, spec_json, created_at)"
                          " VALUES ('h', 'n', '1', '{}', 'now')"))
    for stmt in (f"UPDATE {table} SET name = 'x'", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(stmt))
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT name FROM {table}")).scalar_one() == "n"


def test_unmigrated_postgres_is_refused_with_revision_named(empty_db_url: str) -> None:
    engine = db.make_engine(empty_db_url)
    if db.is_embedded(empty_db_url):
        db.ensure_schema(engine)  # the embedded default upgrades itself
        assert db.current_revision(engine) == db.head_revision()
    else:
        with pytest.raises(SchemaVersionError, match="qgap db upgrade"):
            db.ensure_schema(engine)
    engine.dispose()


def test_every_table_model_matches_the_migrations(db_url: str) -> None:
    """Alembic's autogenerate finds no difference between the migrated schema and the models
    of every area (a model change without its migration fails here)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from qgap_assets.ledger.models import metadata

    engine = db.make_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "include_name": lambda name, type_, parent: type_ != "table" or name != "alembic_version"})
        diffs = compare_metadata(context, metadata)
    engine.dispose()
    assert diffs == []
