"""The ledger's chain, immutability and one-grant-per-candidate, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from qgap_assets.cycle import run_cycle
from qgap_assets.ledger.repository import Ledger
from qgap_assets.ledger.schema import RESEARCH_TABLES
from qgap_assets_tests.cycle_support import small_config


def _disable_triggers(conn, table: str) -> None:  # type: ignore[no-untyped-def]
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
        conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))


@pytest.fixture
def two_runs(engine: Engine, tmp_path: Path) -> Ledger:
    ledger = Ledger(engine)
    run_cycle(small_config(edge=1.0), None, ledger, tmp_path)
    run_cycle(small_config(edge=0.0), None, ledger, tmp_path)
    return ledger


def test_cycle_rows_and_intact_chain(two_runs: Ledger) -> None:
    runs = two_runs.runs()
    assert [r["seq"] for r in runs] == [2, 1]
    assert runs[0]["prev_hash"] == runs[1]["record_hash"]
    report = two_runs.verify()
    assert report.ok and report.runs == 2
    full = two_runs.run(runs[0]["run_id"])
    assert full is not None and len(full["folds"]) == 5 and len(full["gates"]) == 10
    assert {s["scenario"] for s in full["stress"]} >= {"base", "cost_x2", "cost_x3"}


@pytest.mark.parametrize("table", RESEARCH_TABLES[1:7] + ("research_window_metrics",))
def test_raw_update_and_delete_are_refused(two_runs: Ledger, table: str) -> None:
    column = "run_id"
    if table == "research_window_metrics":
        column = "window_name"
        run = two_runs.runs()[0]
        two_runs.record_window({"window": "choppy", "result_hash": run["result_hash"],
                                "params": {"lookback": 60}, "execution_model_hash": "0" * 64,
                                "pnl_total": 1.0, "sharpe": 0.5, "max_drawdown": 0.1, "days": 3},
                               "x.json")
    for stmt in (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}"):
        with pytest.raises(Exception, match="append-only"):
            with two_runs.engine.begin() as conn:
                conn.execute(text(stmt))


@pytest.mark.parametrize("tamper", ["edit_gate", "delete_fold", "edit_run", "delete_run"])
def test_verify_names_the_first_tampered_run(two_runs: Ledger, tamper: str) -> None:
    first = two_runs.runs()[-1]["run_id"]
    with two_runs.engine.begin() as conn:
        table = {"edit_gate": "research_gate_results", "delete_fold": "research_fold_metrics",
                 "edit_run": "research_runs", "delete_run": "research_runs"}[tamper]
        _disable_triggers(conn, table)
        if tamper == "edit_gate":
            conn.execute(text("UPDATE research_gate_results SET passed = NOT passed "
                              "WHERE run_id = :r AND name = 'oos_sharpe'"), {"r": first})
        elif tamper == "delete_fold":
            conn.execute(text("DELETE FROM research_fold_metrics WHERE run_id = :r AND fold_index = 1"),
                         {"r": first})
        elif tamper == "edit_run":
            conn.execute(text("UPDATE research_runs SET params_json = '{}' WHERE run_id = :r"), {"r": first})
        else:
            for child in ("research_manifests", "research_fold_metrics", "research_stress_metrics",
                          "research_gate_results", "research_trials", "research_promotion_attempts"):
                _disable_triggers(conn, child)
                conn.execute(text(f"DELETE FROM {child} WHERE run_id = :r"), {"r": first})
            conn.execute(text("DELETE FROM research_runs WHERE run_id = :r"), {"r": first})
    report = two_runs.verify()
    assert not report.ok
    if tamper == "delete_run":
        assert report.first_bad_run == two_runs.runs()[-1]["run_id"]  # the survivor's link broke
    else:
        assert report.first_bad_run == first


def test_second_grant_for_same_candidate_becomes_already_promoted(engine: Engine, tmp_path: Path) -> None:
    ledger = Ledger(engine)
    first = run_cycle(small_config(edge=1.0), None, ledger, tmp_path)
    assert first.decision == "promote", first.reasons
    second = run_cycle(small_config(edge=1.0), None, ledger, tmp_path)
    assert second.decision == "deny" and second.reasons == ("already_promoted",)
    assert second.manifest is None
    assert len(ledger.manifests(first.candidate_key)) == 1
    assert ledger.verify().ok


def test_trial_registry_grows_with_new_parameter_sets(engine: Engine, tmp_path: Path) -> None:
    ledger = Ledger(engine)
    cfg = small_config()
    run_cycle(cfg, None, ledger, tmp_path)
    contract_hash = ledger.runs()[0]["feature_contract_hash"]
    assert len(ledger.trial_params_hashes(cfg.grid.strategy, contract_hash)) == 9
    wider = cfg.model_copy(update={"grid": cfg.grid.model_copy(update={"thresholds": (0.0005, 0.001, 0.002, 0.003)})})
    run_cycle(wider, None, ledger, tmp_path)
    assert len(ledger.trial_params_hashes(cfg.grid.strategy, contract_hash)) == 12
