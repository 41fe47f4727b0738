"""Shared fixtures: ledger databases on SQLite and PostgreSQL.

Each test session gets its own PostgreSQL database (created here, dropped at the end); each test
that asks for ``db_url`` gets a fresh schema migrated to head. PostgreSQL must be reachable at
``QGAP_TEST_PG`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432``); CI starts it. There is
no skip: a missing server fails the PostgreSQL tests loudly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from qgap_assets.ledger import db

PG_SERVER = os.environ.get("QGAP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def _admin_engine() -> Engine:
    return create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")


class PgDatabases:
    """Creates throwaway databases named after this test session; drops them all at the end."""

    def __init__(self) -> None:
        self.prefix = f"qgap_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.created: list[str] = []
        self.admin = _admin_engine()

    def create(self) -> str:
        name = f"{self.prefix}_{len(self.created)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return f"{PG_SERVER}/{name}"

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    dbs = PgDatabases()
    yield dbs
    dbs.drop_all()


def _empty_url(kind: str, tmp_path: Path, pg_databases: PgDatabases) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return pg_databases.create()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_databases: PgDatabases) -> str:
    """A database with no schema at all (for migration tests)."""
    return _empty_url(request.param, tmp_path, pg_databases)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_databases: PgDatabases) -> str:
    """A fresh ledger database migrated to head, on SQLite and on PostgreSQL."""
    url = _empty_url(request.param, tmp_path, pg_databases)
    db.upgrade(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = db.make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def qgap_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated QGAP_HOME (artifacts, Dagster instance) for one test."""
    home = tmp_path / "qgap_home"
    home.mkdir()
    monkeypatch.setenv("QGAP_HOME", str(home))
    return home
