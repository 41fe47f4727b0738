"""Reproducibility: the in-cycle gate and `qgap ledger replay`, each kind of mismatch forced."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from qgap_assets.cycle import run_cycle
from qgap_assets.ledger import db
from qgap_assets.ledger.repository import Ledger
from qgap_assets.replay import replay_run
from qgap_assets_tests.cycle_support import small_config


def _corrupt_dataset(home: Path, ref: str) -> None:
    path = home / "artifacts" / ref
    frame = pd.read_parquet(path)
    frame.loc[100, "close"] += 0.01
    frame.loc[100, "high"] = max(frame.loc[100, "high"], frame.loc[100, "close"])
    frame.to_parquet(path, index=False)


def test_replay_of_an_intact_run_reproduces(engine: Engine, tmp_path: Path) -> None:
    ledger = Ledger(engine)
    out = run_cycle(small_config(), None, ledger, tmp_path)
    result = replay_run(ledger, tmp_path, out.run_id)
    assert result.passed and result.mismatches == ()


def test_changed_dataset_file_is_a_mismatch_in_cycle_and_replay(engine: Engine, tmp_path: Path) -> None:
    ledger = Ledger(engine)
    first = run_cycle(small_config(edge=0.0), None, ledger, tmp_path)
    ref = ledger.run(first.run_id)["dataset_ref"]
    _corrupt_dataset(tmp_path, ref)
    replay = replay_run(ledger, tmp_path, first.run_id)
    assert not replay.passed and "dataset_hash" in replay.mismatches
    # The next cycle on the same data finds the file behind the path changed: denied.
    second = run_cycle(small_config(edge=0.0), None, ledger, tmp_path)
    assert second.decision == "deny" and second.reasons[0] == "reproducibility_mismatch"
    gate = next(g for g in second.gates if g.name == "reproducibility")
    assert "dataset_hash" in gate.details["mismatched"]


def test_missing_dataset_artifact_is_a_mismatch(engine: Engine, tmp_path: Path) -> None:
    ledger = Ledger(engine)
    out = run_cycle(small_config(edge=0.0), None, ledger, tmp_path)
    (tmp_path / "artifacts" / ledger.run(out.run_id)["dataset_ref"]).unlink()
    result = replay_run(ledger, tmp_path, out.run_id)
    assert not result.passed and result.observed["dataset_hash"] == "missing"


def test_changed_code_is_a_mismatch(tmp_path: Path) -> None:
    """Replay a run with a copy of the code in which one file changed: the code hash differs."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    db.upgrade(url)
    ledger = Ledger(db.make_engine(url))
    home = tmp_path / "home"
    out = run_cycle(small_config(edge=0.0), None, ledger, home)
    repo = Path(db.REPO_ROOT)
    copy = tmp_path / "repo"
    shutil.copytree(repo / "qgap_assets", copy / "qgap_assets",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(repo / "migrations", copy / "migrations",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(repo / "requirements.lock", copy / "requirements.lock")
    with open(copy / "qgap_assets" / "research" / "metrics.py", "a") as fh:
        fh.write("\n# a harmless edit is still a code change\n")
    env = {**os.environ, "PYTHONPATH": str(copy), "QGAP_HOME": str(home), "QGAP_DATABASE_URL": url}
    res = subprocess.run([sys.executable, "-m", "qgap_assets.cli", "ledger", "replay", out.run_id,
                          "--json"], env=env, cwd=copy, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stderr[-2000:]
    body = json.loads(res.stdout)
    assert body["mismatched"] == ["code_hash"]
    assert body["observed"]["result_hash"] == body["expected"]["result_hash"]


def test_newer_than_code_schema_is_refused_naming_the_revision(db_url: str) -> None:
    from sqlalchemy import text

    from qgap_assets.errors import SchemaVersionError

    engine = db.make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaVersionError, match="'9999'.*newer"):
        db.ensure_schema(engine, auto_upgrade=True)
    engine.dispose()


def test_result_frames_are_kept_under_the_result_hash(engine: Engine, tmp_path: Path) -> None:
    from qgap_assets.ledger.artifacts import ArtifactStore

    ledger = Ledger(engine)
    out = run_cycle(small_config(), None, ledger, tmp_path)
    run = ledger.run(out.run_id)
    evidence = json.loads(run["attempts"][0]["evidence_json"])
    path = tmp_path / "artifacts" / evidence["result_ref"]
    assert path.stem == run["result_hash"] and ArtifactStore.verify(path)
    result = json.loads(path.read_text())
    assert [f["fold_index"] for f in result["folds"]] == [f["fold_index"] for f in run["folds"]]
    assert result["params"] == json.loads(run["params_json"])
