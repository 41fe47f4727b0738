"""``qgap promote`` / ``qgap decisions`` / ``qgap approve`` end to end (embedded SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qgap_assets.cli import main


@pytest.fixture
def env(qgap_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Path]:
    monkeypatch.setenv("QGAP_DATABASE_URL", f"sqlite:///{qgap_home / 'ledger.db'}")
    cfg = {"synthetic": {"symbols": 5, "days": 40, "seed": 3, "edge": 3.0},
           "sufficiency": {"min_signals": 10, "min_decisions": 10, "min_trades": 10}}
    paths = {"config": tmp_path / "cfg.json", "no_edge": tmp_path / "no_edge.json",
             "policy": tmp_path / "policy.json"}
    paths["config"].write_text(json.dumps(cfg))
    paths["no_edge"].write_text(json.dumps({**cfg, "synthetic": {**cfg["synthetic"], "edge": 0.0}}))
    paths["policy"].write_text(json.dumps({"lifecycle": {"canary_runs": 2}}))
    return paths


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> object:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cycle_to_live_candidate_and_approvals(env: dict[str, Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    denied = _json(capsys, ["promote", "attempt", "--config", str(env["no_edge"]), "--json"])
    assert denied["decision"] == "deny" and denied["artifact_kind"] == "denial_report"
    assert Path(denied["artifact"]).is_file() and denied["state"] == "candidate"

    out = _json(capsys, ["promote", "attempt", "--config", str(env["config"]), "--json"])
    assert out["decision"] == "promote" and out["state"] == "paper_candidate"
    assert out["artifact_kind"] == "manifest"
    assert main(["manifest", "verify", out["artifact"]]) == 0
    capsys.readouterr()
    key = out["candidate_key"][:12]

    rows = _json(capsys, ["decisions", "--json"])
    assert [r["decision"] for r in rows] == ["deny", "promote"]
    assert _json(capsys, ["decisions", "--denied", "--json"])[0]["reasons"] == ",".join(
        denied["reasons"])

    canary = _json(capsys, ["promote", "canary", key, "--policy", str(env["policy"]), "--json"])
    assert [r["action"] for r in canary["runs"]] == ["continue", "live_candidate"]

    assert main(["approve", key, "--by", "alice"]) == 0
    assert main(["approve", key, "--by", "ALICE"]) == 1
    assert "duplicate_approver" in capsys.readouterr().err
    assert main(["approve", key, "--by", "bob"]) == 0
    assert "live_candidate -> live" in capsys.readouterr().out
    states = _json(capsys, ["decisions", "--states", "--json"])
    assert [s["state"] for s in states] == ["live"]
    status = _json(capsys, ["promote", "status", key, "--json"])
    assert [e["kind"] for e in status["events"]] == ["promote", "start_canary", "canary_passed",
                                                     "go_live"]


def test_unknown_candidate_exits_2(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["approve", "ffff", "--by", "alice"]) == 2
    assert "candidate 'ffff'" in capsys.readouterr().err
