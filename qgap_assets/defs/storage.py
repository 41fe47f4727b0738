"""The local Dagster instance's event log: Dagster's consolidated SQLite storage, one engine per process.

Dagster's ``ConsolidatedSqliteEventLogStorage`` builds a new SQLAlchemy engine (``NullPool``) for
every connection it opens, and a cycle opens ~190 of them (one or more per event). Each costs an
engine build, a compile of every statement (SQLAlchemy's statement cache lives on the engine), a
file open, a WAL fsync at commit and a close: ~1.5 s of a ~3 s cycle on a slow-fsync disk
(cProfile, bench/README.md). This subclass keeps one pooled engine per process and sets
``PRAGMA synchronous=NORMAL`` on its connections. The tables, the schema migrations, the file
(``event_log.db`` under ``base_dir``) and the WAL journal Dagster already enables are unchanged, so
``dagster dev`` and ``dagster-webserver`` read it as before.

Durability trade-off, the one SQLite documents for WAL with ``synchronous=NORMAL``: a power loss
can roll back the last few committed events, never corrupt the file. This is the local
instance's run history; the research ledger (its own database, full sync) is the record of
decisions, and production runs Dagster's storage on PostgreSQL (``dagster_pg.yaml``).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import sqlalchemy as sa
from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """``ConsolidatedSqliteEventLogStorage`` with a per-process pooled engine (see module doc)."""

    def __init__(self, base_dir, inst_data=None):
        self._engine: sa.Engine | None = None
        self._engine_pid: int | None = None
        super().__init__(base_dir, inst_data=inst_data)

    def _shared_engine(self) -> sa.Engine:
        # An engine (and its pooled connections) must not cross a fork: rebuild it in a child.
        if self._engine is None or self._engine_pid != os.getpid():
            engine = sa.create_engine(
                self._conn_string,
                poolclass=sa.pool.QueuePool,
                pool_size=2,
                max_overflow=8,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection, _record):
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

            self._engine, self._engine_pid = engine, os.getpid()
        return self._engine

    @contextmanager
    def _connect(self):
        with self._shared_engine().connect() as conn:
            with conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        engine = self._shared_engine()
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))

    def dispose(self) -> None:
        super().dispose()
        if self._engine is not None and self._engine_pid == os.getpid():
            self._engine.dispose()
        self._engine = None
