"""Paper-candidate manifests: written only on promote, validated, content-addressed.

A manifest holds everything needed to reproduce and run the candidate: strategy and params, the
dataset / contract / code / params / config / execution-model / gate-policy / result / ledger
record hashes, every gate result and the ledger ids. Its file name is the sha256 of its
canonical JSON bytes, written atomically into the artifact store.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema

from qgap_assets.errors import InputValidationError
from qgap_assets.ledger.artifacts import ArtifactStore
from qgap_assets.ledger.hashing import canonical_json, hash_obj, sha256_hex, utc_now_iso

if TYPE_CHECKING:  # the cycle module imports this one
    from qgap_assets.config import CycleConfig
    from qgap_assets.cycle import CycleOutcome

SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
DENIAL_SCHEMA_PATH = Path(__file__).with_name("denial_report.schema.json")


@lru_cache(maxsize=2)
def _schema(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def manifest_schema() -> dict[str, Any]:
    return _schema(SCHEMA_PATH)


def _validate(doc: dict[str, Any], schema_path: Path, what: str) -> None:
    try:
        jsonschema.validate(doc, _schema(schema_path))
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise InputValidationError(f"{what} violates schema at {where}: {exc.message}") from exc


def validate_manifest(manifest: dict[str, Any]) -> None:
    _validate(manifest, SCHEMA_PATH, "manifest")


def validate_denial_report(report: dict[str, Any]) -> None:
    """Denial reports have their own versioned schema (``denial_report.schema.json``)."""
    _validate(report, DENIAL_SCHEMA_PATH, "denial report")


def build_manifest(outcome: CycleOutcome, cfg: CycleConfig, dataset_ref: str) -> dict[str, Any]:
    manifest = {
        "schema_version": "1",
        "kind": "paper_candidate",
        "strategy": cfg.grid.strategy,
        "candidate_key": outcome.candidate_key,
        "params": outcome.params,
        "hashes": {
            "dataset": outcome.dataset_hash,
            "feature_contract": outcome.feature_contract_hash,
            "code": outcome.code_hash,
            "params": hash_obj(outcome.params),
            "config": cfg.hash(),
            "execution_model": hash_obj(_execution_model(cfg)),
            "gate_policy": hash_obj(cfg.gates.model_dump()),  # = policy.policy_hash
            "result": _result_hash(outcome),
            "record": outcome.record_hash,
        },
        "gates": [{k: v for k, v in g.as_dict().items() if k != "details"} for g in outcome.gates],
        "ledger": {"run_id": outcome.run_id, "attempt_id": outcome.attempt_id,
                   "dagster_run_id": outcome.dagster_run_id},
        "dataset_ref": dataset_ref,
        "run": {"cost_bps": cfg.grid.cost_bps, "calendar": cfg.calendar,
                "execution_model": _execution_model(cfg), "gate_policy_version": cfg.gates.version,
                "config": cfg.canonical()},
        "created_at": utc_now_iso(),
    }
    validate_manifest(json.loads(canonical_json(manifest)))
    return manifest


def _execution_model(cfg: CycleConfig) -> dict[str, Any]:
    """The cycle's execution model, exactly as the ledger records it (hash and all)."""
    return dict(cfg.execution_model().canonical())


def _result_hash(outcome: CycleOutcome) -> str:
    for g in outcome.gates:
        if g.name == "reproducibility":
            observed = g.details.get("observed", {})
            if "result_hash" in observed:
                return str(observed["result_hash"])
    raise InputValidationError("manifest needs the reproducibility gate's result hash")


def write_manifest(store: ArtifactStore, manifest: dict[str, Any]) -> tuple[Path, str]:
    data = canonical_json(manifest).encode("utf-8")
    sha = sha256_hex(data)
    path = store.put_bytes(data, ".json")
    return path, sha


def read_manifest(path: str | Path) -> tuple[dict[str, Any], str]:
    """Load a manifest, check its bytes hash to its file name and it matches the schema."""
    p = Path(path)
    if not p.is_file():
        raise InputValidationError(f"manifest not found: {p}")
    data = p.read_bytes()
    sha = sha256_hex(data)
    if p.stem != sha:
        raise InputValidationError(f"manifest {p} is altered: its sha256 is {sha}, its name says {p.stem}")
    manifest = json.loads(data)
    validate_manifest(manifest)
    return manifest, sha
