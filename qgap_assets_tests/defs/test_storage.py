"""The local instance's event log (qgap_assets/defs/storage.py): Dagster's consolidated SQLite
schema and file, one pooled engine per process, synchronous=NORMAL."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from qgap_assets.cli import prepare_dagster_home
from qgap_assets.defs.storage import PooledSqliteEventLogStorage


@dg.asset
def tiny() -> int:
    return 1


@dg.asset
def tiny_child(tiny: int) -> int:
    return tiny + 1


@pytest.fixture
def local_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QGAP_HOME", str(tmp_path / "home"))
    # set (not deleted) so that monkeypatch restores it: prepare_dagster_home exports it
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    monkeypatch.delenv("QGAP_DAGSTER_PG_URL", raising=False)
    return prepare_dagster_home()


def test_runs_written_through_the_pool_are_read_by_a_fresh_instance(local_home: Path) -> None:
    job = dg.define_asset_job("tiny_job").resolve(
        asset_graph=dg.Definitions(assets=[tiny, tiny_child]).resolve_asset_graph())
    with dg.DagsterInstance.get() as writer:
        assert isinstance(writer.event_log_storage, PooledSqliteEventLogStorage)
        run_ids = [job.execute_in_process(instance=writer).run_id for _ in range(3)]
        engine = writer.event_log_storage._shared_engine()
        with engine.connect() as conn:  # every pooled connection runs with synchronous=NORMAL (1)
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert engine.pool.checkedout() == 0  # nothing left open between events
    # Another process's view (the webserver's): plain Dagster storage on the same file.
    reader = dg.DagsterInstance.from_config(str(local_home))
    try:
        assert [r.run_id for r in reader.get_runs()] == run_ids[::-1]
        assert all(r.is_success for r in reader.get_runs())
        latest = reader.get_latest_materialization_event(dg.AssetKey("tiny_child"))
        assert latest is not None and latest.run_id == run_ids[-1]
        events = reader.all_logs(run_ids[0])
        assert {e.dagster_event_type for e in events if e.is_dagster_event} >= {
            dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.ASSET_MATERIALIZATION}
    finally:
        reader.dispose()
    db_file = local_home / "event_log.db"
    with sa.create_engine(f"sqlite:///{db_file}").connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM event_logs WHERE run_id = ?",
                                 (run_ids[1],)).scalar()
    assert n and n > 5


def test_a_forked_child_builds_its_own_engine(local_home: Path) -> None:
    import os

    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        parent_engine = storage._shared_engine()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: must not reuse the parent's pooled connections
            ok = storage._shared_engine() is not parent_engine and storage.has_table("event_logs")
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read, 1) == b"1"
        assert storage._shared_engine() is parent_engine
