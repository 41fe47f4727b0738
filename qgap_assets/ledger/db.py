"""Engines, URLs and schema revisions for the ledger database.

The embedded default is SQLite under ``QGAP_HOME``; production is PostgreSQL
(``QGAP_DATABASE_URL=postgresql+psycopg://...``). Migrations are Alembic's, kept in
``migrations/`` at the repository root; :func:`ensure_schema` either upgrades (embedded default)
or refuses to run against a schema that is behind or ahead of this code, naming both revisions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from qgap_assets.errors import LedgerError, SchemaVersionError
from qgap_assets.locks import file_lock

REPO_ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = REPO_ROOT / "migrations"


def qgap_home() -> Path:
    return Path(os.environ.get("QGAP_HOME", ".qgap")).resolve()


def default_database_url() -> str:
    url = os.environ.get("QGAP_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{qgap_home() / 'ledger.db'}"


def is_embedded(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str | None = None) -> Engine:
    url = url or default_database_url()
    if is_embedded(url):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """Serialise self-upgrades of an embedded SQLite ledger across processes (several cycles
    started at once on a fresh machine must not all run the migrations)."""
    path = url.split("sqlite:///", 1)[-1] if is_embedded(url) else ""
    if not path or path == ":memory:":
        yield
        return
    with file_lock(Path(f"{path}.migrate.lock")):
        yield


def ensure_schema(engine: Engine, auto_upgrade: bool | None = None) -> None:
    """Make sure the schema is exactly at head.

    The embedded SQLite default upgrades itself; any other database must be migrated explicitly
    with ``qgap db upgrade`` and is refused (exit 1, naming the revisions) when it is not.
    """
    url = engine.url.render_as_string(hide_password=False)
    if auto_upgrade is None:
        auto_upgrade = is_embedded(url)
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        raise LedgerError(f"ledger database unreachable at {engine.url!r}: {exc.orig}") from exc
    head = head_revision()
    if current == head:
        return
    script = ScriptDirectory.from_config(alembic_config(url))
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        raise SchemaVersionError(
            f"ledger schema is at revision {current!r}, which is newer than (or unknown to) this "
            f"code (head {head!r}); upgrade qgap before using this database")
    if auto_upgrade:
        with _migration_lock(url):
            if current_revision(engine) != head:  # another process may have just migrated it
                upgrade(url)
        return
    raise SchemaVersionError(
        f"ledger schema is at revision {current or 'base (empty)'!r} but this code needs {head!r}; "
        "run `qgap db upgrade`")
