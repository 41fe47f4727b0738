"""The asset graph materialized in-process through Dagster, with its blocking checks."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from qgap_assets.defs.automation import daily_cycle_schedule, new_bars_sensor
from qgap_assets.defs.cycle import cycle_io_manager
from qgap_assets.defs.resources import CycleSettings, LedgerResource
from qgap_assets.ledger import db
from qgap_assets.ledger.repository import Ledger
from qgap_assets_tests.cycle_support import small_config


def _run(tmp_path: Path, db_url: str, cfg_overrides: dict | None = None, edge: float = 1.0,
         instance: dg.DagsterInstance | None = None) -> tuple[dg.ExecuteInProcessResult, Ledger]:
    cfg = small_config(edge=edge)
    data = cfg.canonical()
    for section, values in (cfg_overrides or {}).items():
        data[section].update(values)
    cfg_path = tmp_path / "cycle.json"
    cfg_path.write_text(json.dumps(data))
    resources = {"settings": CycleSettings(config_file=str(cfg_path)),
                 "ledger": LedgerResource(database_url=db_url, home=str(tmp_path / "home")),
                 "cycle_io": cycle_io_manager}
    result = dg.materialize(_cycle_assets(), resources=resources, instance=instance,
                            raise_on_error=False)
    return result, Ledger(db.make_engine(db_url))


def _sqlite_resources(tmp_path: Path) -> tuple[str, dict]:
    """A migrated SQLite ledger and the small config, as the cycle's resources."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    db.upgrade(url)
    cfg_path = tmp_path / "cycle.json"
    cfg_path.write_text(json.dumps(small_config().canonical()))
    return url, {"settings": CycleSettings(config_file=str(cfg_path)),
                 "ledger": LedgerResource(database_url=url, home=str(tmp_path / "home")),
                 "cycle_io": cycle_io_manager}


def _cycle_assets() -> list:
    from qgap_assets.defs.cycle import cycle_assets, cycle_checks

    return [*cycle_assets, *cycle_checks]


def test_promote_path_writes_ledger_and_manifest(tmp_path: Path, db_url: str) -> None:
    from qgap_assets.defs import cycle as cycle_defs

    result, ledger = _run(tmp_path, db_url)
    assert result.success
    assert cycle_defs._IN_PROCESS == {}  # the run's frames are released when it ends
    outcome = result.asset_value("promotion_decision")
    assert outcome.decision == "promote" and outcome.reasons == ()
    manifest = Path(result.asset_value("paper_candidate_manifest"))
    assert manifest.is_file()
    assert json.loads(manifest.read_text())["ledger"]["run_id"] == outcome.run_id
    assert ledger.verify().ok
    assert ledger.attempts()[0]["decision"] == "promote"
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks == {"data_sufficiency": True, "reproducibility": True, "feature_parity": True}
    reasons = {"below_threshold", "hysteresis_hold", "no_next_bar", "outside_session", "data_stale",
               "participation_cap", "ioc_cancelled", "session_end_cancel", "risk_block"}
    assert reasons | {"bars", "signals", "decisions", "orders", "fills", "trades"} <= set(outcome.funnel)
    run = ledger.runs()[0]
    model = small_config().execution_model()
    assert run["execution_model_version"] == model.version == "realistic-v1"
    assert run["execution_model_hash"] == model.hash()
    stress = {r["scenario"] for r in ledger.run(run["run_id"])["stress"]}
    assert stress >= {"cost_x2", "cost_x3", "spread_x2", "latency_plus_1", "latency_plus_2",
                      "drop_best_5pct_days", "high_vol_half", "low_vol_half"}


def test_blocking_check_denies_records_attempt_and_blocks_manifest(tmp_path: Path, db_url: str) -> None:
    result, ledger = _run(tmp_path, db_url, {"sufficiency": {"min_trades": 10_000_000}})
    outcome = result.asset_value("promotion_decision")
    assert outcome.decision == "deny"
    assert outcome.reasons[0] == "insufficient_trades"
    mats = {e.asset_key.path[-1] for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert "paper_candidate_manifest" not in mats
    attempts = ledger.attempts(denied_only=True)
    assert len(attempts) == 1 and "insufficient_trades" in attempts[0]["reasons"]
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks["data_sufficiency"] is False


def test_no_edge_market_is_denied_with_reasons(tmp_path: Path, db_url: str) -> None:
    result, ledger = _run(tmp_path, db_url, edge=0.0)
    outcome = result.asset_value("promotion_decision")
    assert outcome.decision == "deny" and "oos_sharpe_below_minimum" in outcome.reasons
    assert ledger.manifests() == []


def test_rematerializing_same_inputs_gives_same_hashes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    db.upgrade(url)
    a, _ = _run(tmp_path, url)
    b, ledger = _run(tmp_path, url)
    oa, ob = a.asset_value("promotion_decision"), b.asset_value("promotion_decision")
    assert oa.run_id != ob.run_id
    assert oa.dataset_hash == ob.dataset_hash
    runs = ledger.runs()
    assert runs[0]["result_hash"] == runs[1]["result_hash"]


def test_job_runs_on_postgres_backed_dagster_instance(tmp_path: Path, pg_databases) -> None:  # type: ignore[no-untyped-def]
    storage_url = pg_databases.create().replace("postgresql+psycopg://", "postgresql+psycopg2://")
    ledger_url = pg_databases.create()
    db.upgrade(ledger_url)
    overrides = {"storage": {"postgres": {"postgres_url": storage_url}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result, _ = _run(tmp_path, ledger_url, instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id) is not None


def test_schedule_and_sensor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = dg.build_schedule_context()
    req = daily_cycle_schedule.evaluate_tick(ctx)
    assert req.run_requests and len(req.run_requests) == 1
    assert daily_cycle_schedule.execution_timezone == "America/New_York"

    drop = tmp_path / "drop"
    monkeypatch.setenv("QGAP_DROP_DIR", str(drop))
    assert new_bars_sensor(dg.build_sensor_context()).skip_reason is not None
    drop.mkdir()
    (drop / "bars-1.csv").write_text("timestamp,symbol,open,high,low,close,volume\n")
    (drop / "notes.txt").write_text("ignored")
    result = new_bars_sensor(dg.build_sensor_context())
    assert len(result.run_requests) == 1
    rr = result.run_requests[0]
    assert rr.run_config["resources"]["settings"]["config"]["bars_file"].endswith("bars-1.csv")


def test_single_asset_and_replay_window_rematerialize_from_references(tmp_path: Path) -> None:
    """A later run that selects one asset loads its upstream from the small references (market
    and features rebuilt from the dataset artifact), like the UI's single-asset materialize."""
    import json as _json

    from qgap_assets.defs.windows import replay_window_metrics

    url, resources = _sqlite_resources(tmp_path)
    assets = [*_cycle_assets(), replay_window_metrics]
    (tmp_path / "dg").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dg")) as instance:
        first = dg.materialize(assets, resources=resources, instance=instance,
                               selection=["market_bars", "feature_contract", "features",
                                          "fold_metrics", "candidate_signals"])
        assert first.success
        ref = tmp_path / "dg" / "storage" / "qgap_refs" / "features"
        assert _json.loads(ref.read_text())["kind"] == "prepared"  # a reference, not a frame
        for window in ("high_vol", "choppy"):
            res = dg.materialize(assets, resources=resources, instance=instance,
                                 selection=["replay_window_metrics"], partition_key=window)
            assert res.success
            report = res.output_for_node("replay_window_metrics")
            (mat,) = res.asset_materializations_for_node("replay_window_metrics")
            stored = _json.loads(Path(mat.metadata["artifact"].value).read_text())
            assert stored == _json.loads(_json.dumps(report))
            assert report["days"] == 15 and report["funnel"]["bars"] == 15 * 20 * 390
        ledgered = Ledger(db.make_engine(url)).windows()
        assert [w["window_name"] for w in ledgered] == ["high_vol", "choppy"]
        assert all(w["result_hash"] == report["result_hash"] and w["days"] == 15 for w in ledgered)
        again = dg.materialize(assets, resources=resources, instance=instance,
                               selection=["candidate_signals"])
        assert again.success
        assert again.output_for_node("candidate_signals").contract_hash == \
            first.output_for_node("candidate_signals").contract_hash


def test_asset_graph_lineage_and_subsets_of_the_two_step_pairs(tmp_path: Path) -> None:
    """Every cycle asset keeps its key and upstream edges (what the UI's lineage shows) although
    two pairs share a step, and each member of a pair can be materialized alone."""
    from qgap_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    parents = {key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
               for key in graph.get_all_asset_keys() if graph.get(key).group_name == "autonomy_cycle"}
    assert parents["feature_contract"] == set()
    assert parents["features"] == {"market_bars", "feature_contract"}
    assert parents["fold_metrics"] == {"features"}
    assert parents["stress_metrics"] == {"fold_metrics"}
    assert parents["gate_results"] == {"features", "fold_metrics", "stress_metrics"}
    assert parents["promotion_decision"] == {"features", "fold_metrics", "gate_results"}
    assert parents["paper_candidate_manifest"] == {"market_bars", "promotion_decision"}
    _, resources = _sqlite_resources(tmp_path)
    (tmp_path / "dg").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dg")) as instance:
        first = dg.materialize(_cycle_assets(), resources=resources, instance=instance,
                               selection=["market_bars", "feature_contract"])
        assert first.success
        assert [m.asset_key.to_user_string() for m in first.get_asset_materialization_events()
                ] == ["market_bars", "feature_contract"]
        stress = dg.materialize(_cycle_assets(), resources=resources, instance=instance,
                                selection=["features", "stress_metrics"])
        assert stress.success
        assert {m.asset_key.to_user_string() for m in stress.get_asset_materialization_events()
                } == {"features", "stress_metrics"}
        rows = stress.asset_value("stress_metrics")
        assert {"cost_x2", "cost_x3"} <= {r["scenario"] for r in rows}
        alone = dg.materialize(_cycle_assets(), resources=resources, instance=instance,
                               selection=["feature_contract"])
        assert [m.asset_key.to_user_string() for m in alone.get_asset_materialization_events()
                ] == ["feature_contract"]
