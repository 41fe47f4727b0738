"""The promotion service on SQLite and PostgreSQL: decision reports and denial artifacts, the
lifecycle from cycle to live with the canary, approvals, ramp, drop-back and rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from qgap_assets.config import StrategyGrid
from qgap_assets.errors import InputValidationError
from qgap_assets.execution import set_kill
from qgap_assets.promotion import canary as cn
from qgap_assets.promotion import lifecycle as lc
from qgap_assets.promotion import service as sv
from qgap_assets.promotion.cli import strategy_kill_check
from qgap_assets.promotion.manifest import read_manifest, validate_denial_report
from qgap_assets.promotion.policy import GatePolicy, LifecyclePolicy
from qgap_assets.promotion.records import PROMOTION_TABLES
from qgap_assets_tests.promotion.support import cycle, store, tiny_config

FAST = GatePolicy(lifecycle=LifecyclePolicy(canary_runs=2, ramp_runs=1))


def _promoted(engine: Engine, home: Path, grid: StrategyGrid | None = None) -> str:
    out = cycle(engine, home, tiny_config(grid=grid))
    assert out.decision == "promote", out.reasons
    report = sv.record_attempt(engine, store(home), out.attempt_id)
    assert report is not None and report["artifact_kind"] == "manifest"
    return out.candidate_key


def test_denial_writes_a_report_in_db_and_artifact_store(engine: Engine, tmp_path: Path) -> None:
    out = cycle(engine, tmp_path, tiny_config(edge=0.0))
    assert out.decision == "deny"
    [report] = sv.sync_attempts(engine, store(tmp_path))
    assert report["decision"] == "deny" and report["artifact_kind"] == "denial_report"
    path = Path(report["artifact_path"])
    assert path.stem == report["artifact_sha256"] and store(tmp_path).verify(path)
    body = json.loads(path.read_text())
    validate_denial_report(body)
    with pytest.raises(InputValidationError, match="denial report violates schema at reasons"):
        validate_denial_report({**body, "reasons": []})
    assert body["reasons"] == list(out.reasons) and body["ledger"]["attempt_id"] == out.attempt_id
    assert [g["name"] for g in body["gates"]] == [g.name for g in out.gates]
    assert body["gate_policy"]["hash"] == report["gate_policy_hash"]
    assert sv.sync_attempts(engine, store(tmp_path)) == []          # idempotent
    assert sv.decision_reports(engine, denied_only=True)[0]["reasons"] == list(out.reasons)
    assert sv.status(engine, out.candidate_key).state is lc.State.CANDIDATE


def test_cycle_to_live_with_approvals_and_ramp(engine: Engine, tmp_path: Path) -> None:
    key = _promoted(engine, tmp_path)
    st = sv.status(engine, key)
    assert st.state is lc.State.PAPER_CANDIDATE and st.manifest_sha256
    manifest, _ = read_manifest(sv.manifest_path(engine, key))
    assert manifest["run"]["cost_bps"] == 1.0 and manifest["candidate_key"] == key

    with pytest.raises(sv.PromotionRefused, match="not_in_canary"):
        sv.canary_run(engine, store(tmp_path), key, FAST)
    sv.start_canary(engine, key)
    first = sv.canary_run(engine, store(tmp_path), key, FAST)
    assert first.verdict.clean and first.action == "continue" and first.state is lc.State.PAPER
    second = sv.canary_run(engine, store(tmp_path), key, FAST)
    assert second.action == "live_candidate" and second.state is lc.State.LIVE_CANDIDATE

    sv.approve(engine, key, "alice")
    with pytest.raises(sv.PromotionRefused, match="duplicate_approver"):
        sv.approve(engine, key, " Alice")
    assert sv.status(engine, key).state is lc.State.LIVE_CANDIDATE
    _, live = sv.approve(engine, key, "bob")
    assert live is not None and live.new_state is lc.State.LIVE
    assert sv.status(engine, key).ramp_stage_index == 0

    ramp = sv.canary_run(engine, store(tmp_path), key, FAST)
    assert ramp.phase == "live" and ramp.action == "ramp_advanced" and ramp.capital_fraction == 0.25
    assert sv.status(engine, key).ramp_stage_index == 1

    check = strategy_kill_check(engine)
    set_kill(engine, "symbol", "SYN000", "one symbol only", "ops")
    assert check("intraday-tsmom") is None                 # a symbol switch does not drop back
    set_kill(engine, "strategy", "intraday-tsmom", "desk halt", "ops")
    with pytest.raises(sv.PromotionRefused, match="kill_switch: strategy kill switch"):
        sv.canary_run(engine, store(tmp_path), key, FAST, kill_check=check)
    assert sv.status(engine, key).state is lc.State.PAPER
    kinds = [(e["kind"], e["ok"]) for e in sv.events(engine, key)]
    assert kinds == [("promote", True), ("start_canary", True), ("canary_passed", True),
                     ("go_live", True), ("ramp_advance", True), ("drop_back", True)]
    # back in paper the canary count starts over
    again = sv.canary_run(engine, store(tmp_path), key, FAST)
    assert again.action == "continue" and again.state is lc.State.PAPER


def test_illegal_transition_is_ledgered_and_refused(engine: Engine, tmp_path: Path) -> None:
    key = _promoted(engine, tmp_path)
    with pytest.raises(sv.PromotionRefused, match="illegal_transition"):
        sv.drop_back(engine, key, "carol", "by hand")
    with pytest.raises(sv.PromotionRefused, match="not_live_candidate"):
        sv.approve(engine, key, "alice")
    last = sv.events(engine, key)[-1]
    assert (last["kind"], last["ok"], last["reason_code"]) == ("drop_back", False,
                                                               "illegal_transition")
    assert sv.status(engine, key).state is lc.State.PAPER_CANDIDATE


def test_critical_regression_rolls_back_to_the_previous_champion(engine: Engine,
                                                                 tmp_path: Path) -> None:
    champion = _promoted(engine, tmp_path)
    sv.start_canary(engine, champion)
    challenger = _promoted(engine, tmp_path, StrategyGrid(thresholds=(0.0005,)))
    assert challenger != champion
    sv.start_canary(engine, challenger)
    slipping = cn.SimulatedBroker(slippage_bps=5.0)  # paper fills differ from the simulator
    out = sv.canary_run(engine, store(tmp_path), challenger, FAST, broker=slipping)
    assert lc.Regression.PAPER_BACKTEST_MISMATCH in out.verdict.regressions
    assert out.action == "rollback" and out.rollback_to == champion
    last = sv.events(engine, challenger)[-1]
    assert last["kind"] == "rollback" and last["rollback_to"] == champion
    assert "paper_backtest_mismatch" in last["detail"]
    assert sv.status(engine, challenger).state is lc.State.ROLLED_BACK
    assert sv.status(engine, champion).state is lc.State.PAPER


def test_promotion_tables_are_append_only(engine: Engine, tmp_path: Path) -> None:
    key = _promoted(engine, tmp_path)
    sv.start_canary(engine, key)
    for _ in range(2):
        sv.canary_run(engine, store(tmp_path), key, FAST)
    sv.approve(engine, key, "alice")                      # a row in every promotion table
    for table in PROMOTION_TABLES:
        for stmt in (f"UPDATE {table} SET created_at = created_at", f"DELETE FROM {table}"):
            with pytest.raises(Exception, match="append-only"):
                with engine.begin() as conn:
                    conn.execute(text(stmt))
