"""The append-only research ledger: one cycle = one transaction = one link of a hash chain.

Each ``research_runs`` row carries ``prev_hash`` (the previous run's ``record_hash``, or 64 zeros
for the first) and ``record_hash`` = sha256 of the canonical JSON of the run row and all its
children (folds, stress, gates, trials, promotion attempts). Editing, removing or inserting any
of those rows out of band breaks the chain at that run, which :meth:`Ledger.verify` names.

Appends are serialised (a transaction-scoped advisory lock on PostgreSQL; SQLite takes its write
lock), and ``seq`` and ``prev_hash`` are unique, so concurrent writers can never fork the chain.
Within that same serialised transaction a granted promotion is downgraded to a denial with
``already_promoted`` when the candidate was granted before: racing cycles yield one grant.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from qgap_assets.errors import LedgerError
from qgap_assets.ledger.hashing import canonical_json, hash_obj, utc_now_iso
from qgap_assets.ledger.schema import (research_feature_contracts, research_fold_metrics,
                                       research_gate_results, research_manifests,
                                       research_promotion_attempts, research_runs,
                                       research_stress_metrics, research_trials,
                                       research_window_metrics)

GENESIS = "0" * 64
APPEND_LOCK_KEY = 0x5147_4150  # "QGAP"
ALREADY_PROMOTED = "already_promoted"


@dataclass(frozen=True)
class CycleRecord:
    """Everything one cycle writes, as plain rows (column -> value) ready to insert."""

    run: dict[str, Any]
    folds: tuple[dict[str, Any], ...]
    stress: tuple[dict[str, Any], ...]
    gates: tuple[dict[str, Any], ...]
    trials: tuple[dict[str, Any], ...]
    attempt: dict[str, Any]
    contract: dict[str, Any]


@dataclass(frozen=True)
class AppendResult:
    run_id: str
    seq: int
    record_hash: str
    attempt: dict[str, Any]


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    runs: int
    first_bad_run: str | None = None
    problem: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


_CHILD_KEYS = {"folds": "fold_index", "stress": "scenario", "gates": "gate_order",
               "trials": "params_hash", "attempts": "attempt_id"}


def canonical_children(children: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Children as hashed: each list sorted in Python by its key (never by SQL collation),
    booleans as bool, so the writer and the verifier see the same bytes on every database."""
    out = {}
    for name, key in _CHILD_KEYS.items():
        rows = []
        for r in children.get(name, []):
            row = {k: v for k, v in r.items() if k != "id"}
            if "passed" in row:
                row["passed"] = bool(row["passed"])
            rows.append(row)
        out[name] = sorted(rows, key=lambda r: r[key])
    return out


def _children(conn: Connection, run_id: str) -> dict[str, list[dict[str, Any]]]:
    tables = {"folds": research_fold_metrics, "stress": research_stress_metrics,
              "gates": research_gate_results, "trials": research_trials,
              "attempts": research_promotion_attempts}
    raw = {name: [dict(r._mapping) for r in conn.execute(
        select(table).where(table.c.run_id == run_id))] for name, table in tables.items()}
    return canonical_children(raw)


FAULT_ENV = "QGAP_FAULT_PAUSE_IN_APPEND"


def _fault_point() -> None:
    """Fault injection for crash tests: with ``QGAP_FAULT_PAUSE_IN_APPEND=<marker path>`` the
    writer announces (by creating the marker) that it is inside an uncommitted ledger transaction
    with rows written, then sleeps, so a test can kill the process or the database right there.
    Unset (always, outside tests) it costs one environment lookup."""
    marker = os.environ.get(FAULT_ENV)
    if marker and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        time.sleep(float(os.environ.get("QGAP_FAULT_PAUSE_SECONDS", "30")))


def _record_hash(run_row: dict[str, Any], children: dict[str, list[dict[str, Any]]]) -> str:
    run = {k: v for k, v in run_row.items() if k != "record_hash"}
    return hash_obj({"run": run, **children})


class Ledger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- writing -------------------------------------------------------------------------
    def _lock(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK_KEY})

    def _granted_before(self, conn: Connection, candidate_key: str) -> str | None:
        row = conn.execute(
            select(research_promotion_attempts.c.attempt_id)
            .where(research_promotion_attempts.c.candidate_key == candidate_key,
                   research_promotion_attempts.c.decision == "promote")
            .limit(1)).first()
        return None if row is None else str(row[0])

    def append_cycle(self, record: CycleRecord, retries: int = 8) -> AppendResult:
        """Write one cycle atomically and link it into the chain; retried on write races."""
        last_exc: Exception | None = None
        for attempt_no in range(retries):
            try:
                with self.engine.begin() as conn:
                    if conn.dialect.name == "sqlite":
                        conn.exec_driver_sql("SELECT 1")  # open the transaction
                    self._lock(conn)
                    return self._append(conn, record)
            except IntegrityError as exc:
                last_exc = exc
                time.sleep(0.01 * (attempt_no + 1))
            except OperationalError as exc:
                if "locked" in str(exc).lower() and attempt_no + 1 < retries:
                    last_exc = exc
                    time.sleep(0.05 * (attempt_no + 1))
                    continue
                raise LedgerError(f"ledger write failed, nothing was recorded: {exc.orig}") from exc
            except DBAPIError as exc:
                raise LedgerError(f"ledger write failed, nothing was recorded: {exc.orig}") from exc
        raise LedgerError(f"ledger append kept conflicting after {retries} tries: {last_exc}")

    def _append(self, conn: Connection, record: CycleRecord) -> AppendResult:
        contract = record.contract
        exists = conn.execute(select(research_feature_contracts.c.contract_hash).where(
            research_feature_contracts.c.contract_hash == contract["contract_hash"])).first()
        if exists is None:
            conn.execute(insert(research_feature_contracts).values(**contract))
        last = conn.execute(select(research_runs.c.seq, research_runs.c.record_hash)
                            .order_by(research_runs.c.seq.desc()).limit(1)).first()
        seq = 1 if last is None else int(last[0]) + 1
        prev_hash = GENESIS if last is None else str(last[1])
        attempt = dict(record.attempt)
        if attempt["decision"] == "promote":
            prior = self._granted_before(conn, attempt["candidate_key"])
            if prior is not None:
                reasons = [ALREADY_PROMOTED]
                attempt["decision"] = "deny"
                attempt["reasons_json"] = canonical_json(reasons)
        run = {**record.run, "seq": seq, "prev_hash": prev_hash, "decision": attempt["decision"]}
        children = canonical_children({
            "folds": [{**r, "run_id": record.run["run_id"]} for r in record.folds],
            "stress": [{**r, "run_id": record.run["run_id"]} for r in record.stress],
            "gates": [{**r, "run_id": record.run["run_id"]} for r in record.gates],
            "trials": [{**r, "run_id": record.run["run_id"]} for r in record.trials],
            "attempts": [{**attempt, "run_id": record.run["run_id"]}],
        })
        run["record_hash"] = _record_hash(run, children)
        conn.execute(insert(research_runs).values(**run))
        for table, rows in ((research_fold_metrics, children["folds"]),
                            (research_stress_metrics, children["stress"]),
                            (research_gate_results, children["gates"]),
                            (research_trials, children["trials"])):
            if rows:
                conn.execute(insert(table), rows)
                _fault_point()
        conn.execute(insert(research_promotion_attempts), children["attempts"])
        return AppendResult(run["run_id"], seq, run["record_hash"], children["attempts"][0])

    def record_manifest(self, sha: str, run_id: str, attempt_id: str, candidate_key: str,
                        path: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(research_manifests).values(
                manifest_sha256=sha, run_id=run_id, attempt_id=attempt_id,
                candidate_key=candidate_key, path=path, created_at=utc_now_iso()))

    def record_window(self, report: dict[str, Any], artifact_ref: str,
                      dagster_run_id: str | None = None) -> None:
        """Ledger one replay window's metrics (the full report stays in the artifact store)."""
        with self.engine.begin() as conn:
            conn.execute(insert(research_window_metrics).values(
                window_name=report["window"], result_hash=report["result_hash"],
                params_json=canonical_json(report["params"]),
                execution_model_hash=report["execution_model_hash"],
                pnl_total=report["pnl_total"], sharpe=report["sharpe"],
                max_drawdown=report["max_drawdown"], days=report["days"],
                metrics_json=canonical_json(report), artifact_ref=artifact_ref,
                dagster_run_id=dagster_run_id, created_at=utc_now_iso()))

    def windows(self, result_hash: str | None = None) -> list[dict[str, Any]]:
        q = select(research_window_metrics).order_by(research_window_metrics.c.id)
        if result_hash:
            q = q.where(research_window_metrics.c.result_hash == result_hash)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # -- reading -------------------------------------------------------------------------
    def runs(self, limit: int | None = None) -> list[dict[str, Any]]:
        q = select(research_runs).order_by(research_runs.c.seq.desc())
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(research_runs).where(research_runs.c.run_id == run_id)).first()
            if row is None:
                return None
            return {**dict(row._mapping), **_children(conn, run_id)}

    def attempts(self, denied_only: bool = False) -> list[dict[str, Any]]:
        q = select(research_promotion_attempts, research_runs.c.seq).join(
            research_runs, research_runs.c.run_id == research_promotion_attempts.c.run_id)
        if denied_only:
            q = q.where(research_promotion_attempts.c.decision == "deny")
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q.order_by(research_runs.c.seq))]
        for r in rows:
            r["reasons"] = json.loads(r["reasons_json"])
        return rows

    def trial_params_hashes(self, strategy: str, contract_hash: str) -> set[str]:
        """Distinct parameter sets ever evaluated for this strategy and contract."""
        with self.engine.connect() as conn:
            return {str(r[0]) for r in conn.execute(
                select(research_trials.c.params_hash).distinct()
                .where(research_trials.c.strategy == strategy,
                       research_trials.c.feature_contract_hash == contract_hash))}

    def trial_sharpes(self, strategy: str, contract_hash: str) -> list[float]:
        with self.engine.connect() as conn:
            return [float(r[0]) for r in conn.execute(
                select(research_trials.c.sharpe).where(
                    research_trials.c.strategy == strategy,
                    research_trials.c.feature_contract_hash == contract_hash))]

    def manifests(self, candidate_key: str | None = None) -> list[dict[str, Any]]:
        q = select(research_manifests)
        if candidate_key:
            q = q.where(research_manifests.c.candidate_key == candidate_key)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def verify(self) -> VerifyReport:
        """Walk the chain; name the first run whose record no longer hashes as written."""
        with self.engine.connect() as conn:
            runs = [dict(r._mapping) for r in conn.execute(
                select(research_runs).order_by(research_runs.c.seq))]
            prev = GENESIS
            for expected_seq, run in enumerate(runs, start=1):
                if run["seq"] != expected_seq:
                    return VerifyReport(False, len(runs), run["run_id"],
                                        f"sequence gap: expected seq {expected_seq}, found {run['seq']}")
                if run["prev_hash"] != prev:
                    return VerifyReport(False, len(runs), run["run_id"],
                                        "prev_hash does not match the previous record_hash "
                                        "(a run was removed or inserted out of band)")
                children = _children(conn, run["run_id"])
                recomputed = _record_hash(run, children)
                if recomputed != run["record_hash"]:
                    return VerifyReport(False, len(runs), run["run_id"],
                                        "record_hash mismatch (the run or one of its children "
                                        "was edited, removed or added out of band)",
                                        {"stored": run["record_hash"], "recomputed": recomputed})
                prev = run["record_hash"]
        return VerifyReport(True, len(runs))


def with_attempt(record: CycleRecord, **changes: Any) -> CycleRecord:
    return replace(record, attempt={**record.attempt, **changes})
