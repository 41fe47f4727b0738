"""The publication window's ledger side: how long has a candidate's passing evidence stood?

Reads the research ledger (never writes it): walking back over the runs of the same strategy and
feature contract, newest first, it counts the consecutive runs whose candidate (strategy +
contract hash + params) is the one at hand and whose every gate except the publication window
itself passed (a run denied only for ``publication_window_open`` or ``already_promoted`` still
holds passing evidence). The streak stops at the first run that does not qualify.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from qgap_assets.ledger.hashing import hash_obj
from qgap_assets.ledger.schema import (research_fold_metrics, research_gate_results,
                                       research_promotion_attempts, research_runs)
from qgap_assets.promotion.gates import LedgerContext

MAX_LOOKBACK_RUNS = 1000


def candidate_key(strategy: str, contract_hash: str, params: dict[str, Any]) -> str:
    """The candidate's identity: strategy, feature contract hash and parameter set."""
    return hash_obj({"strategy": strategy, "feature_contract_hash": contract_hash, "params": params})


@dataclass(frozen=True)
class EvidenceStreak:
    prior_cycles: int
    first_session: str | None  # last out-of-sample session of the streak's oldest run
    run_ids: tuple[str, ...]   # newest first


def evidence_streak(engine: Engine, strategy: str, contract_hash: str, key: str) -> EvidenceStreak:
    """The consecutive earlier runs holding passing evidence for candidate ``key``."""
    with engine.connect() as conn:
        runs = conn.execute(
            select(research_runs.c.run_id, research_promotion_attempts.c.candidate_key)
            .join(research_promotion_attempts,
                  research_promotion_attempts.c.run_id == research_runs.c.run_id)
            .where(research_runs.c.strategy == strategy,
                   research_runs.c.feature_contract_hash == contract_hash)
            .order_by(research_runs.c.seq.desc()).limit(MAX_LOOKBACK_RUNS)).all()
        streak: list[str] = []
        first: str | None = None
        for run_id, run_key in runs:
            if run_key != key:
                break
            gates = conn.execute(select(research_gate_results.c.name, research_gate_results.c.passed)
                                 .where(research_gate_results.c.run_id == run_id)).all()
            if not gates or not all(bool(p) for n, p in gates if n != "publication_window"):
                break
            streak.append(str(run_id))
            first = conn.execute(select(func.max(research_fold_metrics.c.test_end))
                                 .where(research_fold_metrics.c.run_id == run_id)).scalar()
    return EvidenceStreak(len(streak), first, tuple(streak))


def with_publication_window(ctx: LedgerContext, engine: Engine, strategy: str, contract_hash: str,
                            params: dict[str, Any], calendar: str = "XNYS") -> LedgerContext:
    """``ctx`` with the publication-window fields filled from the ledger."""
    streak = evidence_streak(engine, strategy, contract_hash,
                             candidate_key(strategy, contract_hash, params))
    return replace(ctx, window_prior_cycles=streak.prior_cycles,
                   window_first_session=streak.first_session, calendar=calendar)

