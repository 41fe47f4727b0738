"""Dagster glue: the manifest sensor, the lifecycle and canary assets (simulated broker and the
execution Router), their metadata tables."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from sqlalchemy import text
from sqlalchemy.engine import Engine

from qgap_assets.defs.promotion import (PromotionSettings, new_manifest_sensor, paper_canary,
                                        promotion_lifecycle)
from qgap_assets.defs.advisory import AdvisorResource
from qgap_assets.defs.resources import LedgerResource
from qgap_assets.promotion import lifecycle as lc
from qgap_assets.promotion import service as sv
from qgap_assets_tests.promotion.support import cycle, tiny_config

ROUTING = """version: "test-1"
default_adapter: simulated
fallback: {allowed: false}
symbols: {SYN000: {}, SYN001: {}, SYN002: {}, SYN003: {}, SYN004: {}}
"""


def sv_sha(engine: Engine, attempt_id: str) -> str:
    from qgap_assets.ledger.repository import Ledger

    return next(m["manifest_sha256"] for m in Ledger(engine).manifests()
                if m["attempt_id"] == attempt_id)


def _materialize(ledger: LedgerResource, settings: PromotionSettings,
                 advisor: AdvisorResource | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize([promotion_lifecycle, paper_canary],
                          resources={"ledger": ledger, "promotion_settings": settings,
                                     "advisor": advisor or AdvisorResource(
                                         database_url=ledger.database_url)})


def test_sensor_then_lifecycle_and_canary_assets(db_url: str, engine: Engine, tmp_path: Path) -> None:
    ledger = LedgerResource(database_url=db_url, home=str(tmp_path))
    ctx = dg.build_sensor_context(resources={"ledger": ledger})
    assert new_manifest_sensor(ctx).skip_reason is not None
    denied = cycle(engine, tmp_path, tiny_config(edge=0.0))          # a denial: no manifest
    assert [r.run_key for r in new_manifest_sensor(ctx).run_requests] == [
        f"attempt:{denied.attempt_id}"]
    out = cycle(engine, tmp_path)
    res = new_manifest_sensor(ctx)
    requests = res.run_requests
    ctx.update_cursor(res.cursor)
    assert [r.run_key for r in requests] == [f"manifest:{sv_sha(engine, out.attempt_id)}"]

    result = _materialize(ledger, PromotionSettings())
    assert result.success
    meta = result.asset_materializations_for_node("promotion_lifecycle")[0].metadata
    assert meta["recorded_now"].value == 2 and "deny" in meta["decisions"].value
    assert "publication_window" in meta["latest_gates"].value and "paper" in meta["lifecycle"].value
    assert sv.status(engine, out.candidate_key).state is lc.State.PAPER
    assert new_manifest_sensor(ctx).skip_reason is not None          # all recorded, cursor moved
    runs = result.asset_materializations_for_node("paper_canary")[0].metadata["runs"].value
    assert "continue" in runs and "paper" in runs


def test_canary_through_the_execution_router(db_url: str, engine: Engine, tmp_path: Path) -> None:
    policy = tmp_path / "routing.yaml"
    policy.write_text(ROUTING)
    ledger = LedgerResource(database_url=db_url, home=str(tmp_path))
    out = cycle(engine, tmp_path)
    result = _materialize(ledger, PromotionSettings(routing_policy_file=str(policy)))
    assert result.success
    [run] = sv.canary_runs(engine, out.candidate_key)
    assert run["adapter"] == "router" and run["clean"], run["details_json"]
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM execution_orders")).scalar()
    assert n and n > 0   # every paper order went through the router's audit trail
