"""Database-enforced immutability for ledger tables.

Every ledger table is append-only: the database itself refuses UPDATE and DELETE (and TRUNCATE
on PostgreSQL), so no code path, ORM session or hand-typed SQL can rewrite history. The hash
chain (``ledger.chain``) detects what slips past (triggers disabled by a superuser).
Migrations call :func:`install` / :func:`uninstall`; nothing else does.
"""

from __future__ import annotations

from typing import Any

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION qgap_refuse_mutation() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'qgap ledger table % is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def _statements(dialect: str, table: str) -> list[str]:
    if dialect == "postgresql":
        return [
            PG_FUNCTION,
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION qgap_refuse_mutation()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION qgap_refuse_mutation()",
        ]
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, 'qgap ledger table {table} is append-only: UPDATE refused'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, 'qgap ledger table {table} is append-only: DELETE refused'); END",
        ]
    raise NotImplementedError(f"append-only triggers are not implemented for dialect {dialect!r}")


def _drop_statements(dialect: str, table: str) -> list[str]:
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
                f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}"]
    return [f"DROP TRIGGER IF EXISTS {table}_no_update", f"DROP TRIGGER IF EXISTS {table}_no_delete"]


def install(op: Any, table: str) -> None:
    """Install the append-only triggers on ``table`` (call from an Alembic migration)."""
    dialect = op.get_bind().dialect.name
    for stmt in _statements(dialect, table):
        op.execute(stmt)


def uninstall(op: Any, table: str) -> None:
    dialect = op.get_bind().dialect.name
    for stmt in _drop_statements(dialect, table):
        op.execute(stmt)
