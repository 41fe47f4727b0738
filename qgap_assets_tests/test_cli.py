"""The `qgap` CLI contract, run as a real subprocess (the console script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qgap_assets.data.bars import write_bars
from qgap_assets.data.synthetic import generate_bars

CYCLE_KEYS = {"run_id", "dagster_run_id", "decision", "reasons", "gates", "manifest", "dataset_hash",
              "feature_contract_hash", "code_hash", "params", "funnel"}


def qgap(*args: str, home: Path, db_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QGAP_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    if db_url:
        env["QGAP_DATABASE_URL"] = db_url
    else:
        env.pop("QGAP_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "qgap_assets.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def small_cfg(tmp_path: Path) -> Path:
    p = tmp_path / "small.yaml"
    p.write_text("synthetic: {symbols: 20, days: 60, seed: 7}\n")
    return p


def test_cycle_json_contract_and_twice(tmp_path: Path, small_cfg: Path, db_url: str) -> None:
    home = tmp_path / "home"
    first = qgap("cycle", "--config", str(small_cfg), "--json", home=home, db_url=db_url)
    assert first.returncode == 0, first.stderr[-2000:]
    out = json.loads(first.stdout)
    assert CYCLE_KEYS <= set(out)
    assert out["decision"] == "promote" and out["reasons"] == []
    assert {"name", "passed", "value", "threshold", "reason_code"} <= set(out["gates"][0])
    assert set(out["funnel"]) >= {"bars", "signals", "decisions", "trades"}
    assert Path(out["manifest"]).is_file()
    second = json.loads(qgap("cycle", "--config", str(small_cfg), "--json", home=home,
                             db_url=db_url).stdout)
    assert second["run_id"] != out["run_id"] and second["dataset_hash"] == out["dataset_hash"]
    assert second["decision"] == "deny" and second["reasons"] == ["already_promoted"]
    verify = qgap("ledger", "verify", home=home, db_url=db_url)
    assert verify.returncode == 0 and "2 runs" in verify.stdout
    mv = qgap("manifest", "verify", out["manifest"], "--json", home=home, db_url=db_url)
    assert mv.returncode == 0 and json.loads(mv.stdout)["ok"] is True


def test_bad_bars_exit_2_and_ledger_untouched(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bars = generate_bars(2, 3, seed=1)
    bars.loc[4, "low"] = bars.loc[4, "high"] + 1.0
    path = write_bars(bars, tmp_path / "bad.csv")
    res = qgap("cycle", "--bars", str(path), "--json", home=home)
    assert res.returncode == 2
    assert "column 'low'" in res.stderr and "low <= min(open, close)" in res.stderr and "row 4" in res.stderr
    assert res.stdout == ""
    assert not (home / "ledger.db").exists() or qgap("ledger", "runs", "--json", home=home).stdout.strip() == "[]"


def test_bad_config_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("grid: {lookbacks: [0]}\n")
    res = qgap("cycle", "--config", str(cfg), home=tmp_path / "home")
    assert res.returncode == 2 and "lookbacks" in res.stderr


def test_backtest_contract(tmp_path: Path) -> None:
    path = write_bars(generate_bars(3, 4, seed=2), tmp_path / "b.parquet")
    out = tmp_path / "bt.json"
    res = qgap("backtest", "--bars", str(path), "--lookback", "10", "--threshold", "0.0005",
               "--cost-bps", "1", "--out", str(out), home=tmp_path / "home")
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert set(data["summary"]) == {"symbols", "bars", "trades", "pnl_total", "seconds", "bars_per_second"}
    assert data["summary"]["symbols"] == 3 and data["summary"]["bars"] == 3 * 4 * 390
    sym = data["per_symbol"]["SYN000"]
    assert set(sym) == {"trades", "pnl_total", "pnl_by_day"} and len(sym["pnl_by_day"]) == 4
    assert sum(s["trades"] for s in data["per_symbol"].values()) == data["summary"]["trades"]
    assert sym["pnl_total"] == pytest.approx(sum(sym["pnl_by_day"].values()), abs=1e-9)


def test_ledger_listing_commands(tmp_path: Path, small_cfg: Path) -> None:
    home = tmp_path / "home"
    out = json.loads(qgap("cycle", "--config", str(small_cfg), "--json", home=home).stdout)
    runs = json.loads(qgap("ledger", "runs", "--json", home=home).stdout)
    assert [r["run_id"] for r in runs] == [out["run_id"]]
    shown = json.loads(qgap("ledger", "show", out["run_id"], "--json", home=home).stdout)
    assert shown["record_hash"] == out["record_hash"] and len(shown["gates"]) == len(out["gates"])
    attempts = json.loads(qgap("ledger", "attempts", "--json", home=home).stdout)
    assert [a["decision"] for a in attempts] == [out["decision"]]
    assert json.loads(qgap("ledger", "attempts", "--denied", "--json", home=home).stdout) == [] \
        or out["decision"] == "deny"
    table = qgap("ledger", "attempts", home=home)
    assert table.returncode == 0 and out["attempt_id"] in table.stdout
    missing = qgap("ledger", "show", "nope", home=home)
    assert missing.returncode == 1 and "no run" in missing.stderr
    replay = qgap("ledger", "replay", out["run_id"], home=home)
    assert replay.returncode == 0 and "reproduced" in replay.stdout


def test_a_cycle_without_signals_is_denied_and_says_why(tmp_path: Path) -> None:
    cfg = tmp_path / "quiet.yaml"
    cfg.write_text("synthetic: {symbols: 4, days: 30, seed: 1}\n"
                   "grid: {lookbacks: [15], thresholds: [0.5]}\n")   # a 50 % move in 15 minutes
    res = qgap("cycle", "--config", str(cfg), "--json", home=tmp_path / "home")
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["decision"] == "deny" and out["reasons"][0] == "insufficient_signals"
    assert out["funnel"]["signals"] == 0 and out["funnel"]["bars"] > 0
    assert out["funnel_note"].startswith("bars but zero signals")
    human = qgap("cycle", "--config", str(cfg), home=tmp_path / "home2")
    assert "why      : bars but zero signals" in human.stdout


def test_a_blocking_check_still_records_a_denial_and_exits_0(tmp_path: Path) -> None:
    cfg = tmp_path / "strict.yaml"
    cfg.write_text("synthetic: {symbols: 4, days: 30, seed: 1}\nsufficiency: {min_trades: 100000000}\n")
    res = qgap("cycle", "--config", str(cfg), "--json", home=tmp_path / "home")
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["decision"] == "deny" and out["reasons"][0] == "insufficient_trades"
    assert out["manifest"] is None
    attempts = json.loads(qgap("ledger", "attempts", "--denied", "--json", home=tmp_path / "home").stdout)
    assert [a["attempt_id"] for a in attempts] == [out["attempt_id"]]
