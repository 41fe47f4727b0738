"""`qgap advisory` through the real console entry point on a SQLite ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def qgap(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QGAP_DATABASE_URL", "DAGSTER_HOME")}
    env["QGAP_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "qgap_assets.cli", "advisory", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_stage_climbs_one_step_and_refuses_skips(tmp_path: Path) -> None:
    shown = qgap(tmp_path, "stage", "intraday-tsmom", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["stage"] == "shadow"
    skip = qgap(tmp_path, "set-stage", "intraday-tsmom", "paper_bounded", "--by", "alice",
                "--candidate", "c1")
    assert skip.returncode == 1 and "stage_skip_refused" in skip.stderr
    up = qgap(tmp_path, "set-stage", "intraday-tsmom", "paper_review", "--by", "alice",
              "--candidate", "c1", "--reason", "shadow evaluation complete")
    assert up.returncode == 0, up.stderr
    bounded = qgap(tmp_path, "set-stage", "intraday-tsmom", "paper_bounded", "--by", "alice",
                   "--candidate", "c1")
    assert bounded.returncode == 1 and "control_validation_missing" in bounded.stderr
    history = json.loads(qgap(tmp_path, "stage", "intraday-tsmom", "--json").stdout)
    assert history["stage"] == "paper_review" and len(history["history"]) == 1
    down = qgap(tmp_path, "set-stage", "intraday-tsmom", "shadow", "--by", "bob")
    assert down.returncode == 0


def test_challenge_review_must_be_independent(tmp_path: Path) -> None:
    same = qgap(tmp_path, "challenge", "intraday-tsmom", "c1", "--reviewer", "alice",
                "--approvers", "alice,bob", "--finding", "fills match")
    assert same.returncode == 2 and "challenge_reviewer_not_independent" in same.stderr
    ok = qgap(tmp_path, "challenge", "intraday-tsmom", "c1", "--reviewer", "carol",
              "--approvers", "alice,bob", "--finding", "fills match the simulator")
    assert ok.returncode == 0 and "cleared" in ok.stdout
