"""Crashes, outages and races against the ledger, with real processes and a real PostgreSQL.

- ``kill -9`` of a cycle inside its uncommitted ledger transaction leaves no partial run;
- a database connection cut in the same place gives exit 1 and nothing half-written;
- 8 cycles racing on one candidate yield exactly one grant and one manifest;
- an unreachable database gives a clear error and exit 1.
The writer is stopped at a fault-injection point (``QGAP_FAULT_PAUSE_IN_APPEND``) that creates a
marker file once rows are written but not committed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from qgap_assets.ledger import db
from qgap_assets.ledger.repository import FAULT_ENV, Ledger

CONFIG = "synthetic: {symbols: 20, days: 60, seed: 7}\n"


def _env(home: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    return {**env, "QGAP_HOME": str(home), "QGAP_DATABASE_URL": url, **extra}


def _cycle(home: Path, url: str, cfg: Path, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "qgap_assets.cli", "cycle", "--config", str(cfg),
                             "--json"], env=_env(home, url, **extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"cycle ended before the fault point: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("fault point never reached")
        time.sleep(0.1)


@pytest.fixture
def pg_url(pg_databases) -> str:  # type: ignore[no-untyped-def]
    url = pg_databases.create()
    db.upgrade(url)
    return url


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    p = tmp_path / "cycle.yaml"
    p.write_text(CONFIG)
    return p


def _counts(url: str) -> dict[str, int]:
    eng = create_engine(url)
    with eng.connect() as conn:
        out = {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
               for t in ("research_runs", "research_fold_metrics", "research_gate_results",
                         "research_promotion_attempts")}
    eng.dispose()
    return out


def test_kill_9_mid_write_leaves_no_partial_run(tmp_path: Path, pg_url: str, cfg: Path) -> None:
    home = tmp_path / "home"
    marker = tmp_path / "in-transaction"
    proc = _cycle(home, pg_url, cfg, **{FAULT_ENV: str(marker)})
    _wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.5)  # the server notices the dead backend and rolls back
    assert _counts(pg_url) == {"research_runs": 0, "research_fold_metrics": 0,
                               "research_gate_results": 0, "research_promotion_attempts": 0}
    ledger = Ledger(db.make_engine(pg_url))
    assert ledger.verify().ok
    again = _cycle(home, pg_url, cfg)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-2000:]
    assert json.loads(out)["decision"] == "promote"
    assert ledger.verify().ok and ledger.verify().runs == 1


def test_database_connection_cut_mid_write_exits_1_nothing_written(tmp_path: Path, pg_url: str,
                                                                   cfg: Path) -> None:
    home = tmp_path / "home"
    marker = tmp_path / "in-transaction"
    proc = _cycle(home, pg_url, cfg, **{FAULT_ENV: str(marker), "QGAP_FAULT_PAUSE_SECONDS": "3"})
    _wait_for(marker, proc)
    dbname = pg_url.rsplit("/", 1)[1]
    admin = create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # what a server restart does to the cycle's session
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": dbname})
    admin.dispose()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "ledger" in err.lower() and out == ""
    assert _counts(pg_url)["research_runs"] == 0
    again = _cycle(home, pg_url, cfg)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-2000:]
    assert Ledger(db.make_engine(pg_url)).verify().runs == 1


def test_unreachable_database_is_a_clear_exit_1(tmp_path: Path, cfg: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/qgap"  # nothing listens on port 1
    proc = _cycle(tmp_path / "home", url, cfg)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and out == ""
    assert "ledger database unreachable" in err


def test_eight_racing_cycles_grant_exactly_once(tmp_path: Path, pg_url: str, cfg: Path) -> None:
    home = tmp_path / "home"
    # Each process gets its own Dagster instance (as 8 separate deployments would); the ledger,
    # the artifact store and the candidate are shared.
    procs = [_cycle(home, pg_url, cfg, DAGSTER_HOME=str(tmp_path / f"dagster-{i}")) for i in range(8)]
    results = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1][-500:] for r in results]
    decisions = [json.loads(out) for out, _ in results]
    granted = [d for d in decisions if d["decision"] == "promote"]
    assert len(granted) == 1
    assert all(d["reasons"] == ["already_promoted"] for d in decisions if d["decision"] == "deny")
    ledger = Ledger(db.make_engine(pg_url))
    report = ledger.verify()
    assert report.ok and report.runs == 8
    assert [r["seq"] for r in ledger.runs()] == list(range(8, 0, -1))
    assert len(ledger.manifests()) == 1
    manifests = [p for p in (home / "artifacts").glob("*.json")
                 if json.loads(p.read_text()).get("kind") == "paper_candidate"]
    assert len(manifests) == 1


def test_concurrent_cycles_on_a_fresh_embedded_home(tmp_path: Path, cfg: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Three cycles started at once on a brand-new QGAP_HOME (embedded SQLite ledger, one local
    Dagster instance): the first-use initialisations (ledger self-upgrade, Dagster storage) are
    serialised, all three record a decision, exactly one is a grant."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "QGAP_DATABASE_URL")}
    env["QGAP_HOME"] = str(home)
    procs = [subprocess.Popen([sys.executable, "-m", "qgap_assets.cli", "cycle", "--config", str(cfg),
                               "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [r[1][-800:] for r in results]
    decisions = sorted(json.loads(out)["decision"] for out, _ in results)
    assert decisions == ["deny", "deny", "promote"]
    ledger = Ledger(db.make_engine(f"sqlite:///{home / 'ledger.db'}"))
    assert ledger.verify().ok and ledger.verify().runs == 3
    # The three processes shared one local Dagster event log (pooled SQLite engine per process):
    # every run and its materializations are there for the UI.
    import dagster as dg

    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    instance = dg.DagsterInstance.get()
    try:
        runs = instance.get_runs()
        assert len(runs) == 3 and all(r.is_success and r.job_name == "autonomy_cycle" for r in runs)
        assert {json.loads(out)["dagster_run_id"] for out, _ in results} == {r.run_id for r in runs}
        assert instance.get_latest_materialization_event(dg.AssetKey("promotion_decision"))
    finally:
        instance.dispose()
