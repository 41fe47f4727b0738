"""Replay a recorded run from the ledger alone: its config, its dataset artifact, its code hash.

The same replay the ``reproducibility`` gate runs inside a cycle, but for any past run:
``qgap ledger replay RUN_ID`` re-evaluates and reports which recorded hash (dataset, contract,
result, code) the present can no longer reproduce.
"""

from __future__ import annotations

import json
from pathlib import Path

from qgap_assets.config import config_from_dict
from qgap_assets.cycle import artifact_store, reproduce
from qgap_assets.errors import QgapError
from qgap_assets.ledger.repository import Ledger
from qgap_assets.promotion.gates import ReproducibilityResult


def replay_run(ledger: Ledger, home: Path, run_id: str) -> ReproducibilityResult:
    run = ledger.run(run_id)
    if run is None:
        raise QgapError(f"no run {run_id!r} in the ledger")
    cfg = config_from_dict(json.loads(run["config_json"]), source=f"config recorded with run {run_id}")
    expected = {"dataset_hash": run["dataset_hash"], "feature_contract_hash": run["feature_contract_hash"],
                "result_hash": run["result_hash"], "code_hash": run["code_hash"]}
    return reproduce(artifact_store(home), run["dataset_ref"], cfg, expected)
