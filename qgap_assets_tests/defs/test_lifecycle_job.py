"""The code location's jobs end to end in one Dagster instance: a cycle, then the promotion
lifecycle job that the new-attempt sensor starts (decision report, advisory review, canary start)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from qgap_assets.definitions import defs
from qgap_assets.ledger import db
from qgap_assets.ledger.repository import Ledger
from qgap_assets_tests.cycle_support import small_config


def test_cycle_then_lifecycle_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QGAP_HOME", str(tmp_path))
    monkeypatch.delenv("QGAP_DATABASE_URL", raising=False)
    cfg = tmp_path / "cycle.json"
    cfg.write_text(json.dumps(small_config().canonical()))
    with dg.instance_for_test() as instance:
        cycle = defs.resolve_job_def("autonomy_cycle").execute_in_process(
            instance=instance, run_config={"resources": {"settings": {"config": {
                "config_file": str(cfg)}}}})
        assert cycle.success
        outcome = cycle.asset_value("promotion_decision")
        life = defs.resolve_job_def("promotion_lifecycle_job").execute_in_process(instance=instance)
        assert life.success
    [advice] = life.asset_materializations_for_node("advisory_review")
    assert advice.metadata["stage"].value == "shadow"
    assert outcome.candidate_key[:16] in str(
        life.asset_materializations_for_node("promotion_lifecycle")[0].metadata["lifecycle"].value)
    assert Ledger(db.make_engine()).verify().ok
