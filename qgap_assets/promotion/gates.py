"""Promotion gates: evidence + policy -> one :class:`GateResult` per gate, in a fixed order.

Every gate is a pure function of the evaluation, the policy and the ledger context, returns
``{name, passed, value, threshold, reason_code, details}`` and is ledgered whether it passed or
not. ``REQUIRED`` lists the gates a promotion needs; data sufficiency and reproducibility are the
integrity gates that also stand as blocking Dagster asset checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qgap_assets.config import CycleConfig
from qgap_assets.promotion import stats
from qgap_assets.research.evaluation import Evaluation
from qgap_assets.research.metrics import max_drawdown, sharpe_annualised


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    value: float | None
    threshold: float | None
    reason_code: str | None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "value": self.value,
                "threshold": self.threshold, "reason_code": self.reason_code,
                "details": self.details}


@dataclass(frozen=True)
class ReproducibilityResult:
    """Outcome of replaying the evaluation from the recorded inputs."""

    passed: bool
    mismatches: tuple[str, ...]  # which hashes differed: dataset_hash, result_hash, code_hash, ...
    expected: dict[str, str]
    observed: dict[str, str]


@dataclass(frozen=True)
class LedgerContext:
    """What the ledger knows that the gates need: the trial registry."""

    n_trials: int
    trial_sharpes: tuple[float, ...]


GATE_ORDER = ("data_sufficiency", "reproducibility", "oos_sharpe", "fold_stability",
              "max_drawdown", "cost_robustness", "confidence_envelope",
              "probabilistic_sharpe", "deflated_sharpe", "backtest_overfitting")
REQUIRED = frozenset(GATE_ORDER)
INTEGRITY_GATES = ("data_sufficiency", "reproducibility")


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def data_sufficiency(ev: Evaluation, cfg: CycleConfig) -> GateResult:
    mins = {"signals": cfg.sufficiency.min_signals, "decisions": cfg.sufficiency.min_decisions,
            "trades": cfg.sufficiency.min_trades}
    per_fold = [{"fold": f.index, "signals": f.signals, "decisions": f.decisions, "trades": f.trades}
                for f in ev.folds]
    counts = {k: int(ev.funnel[k]) for k in mins}
    short = [k for k in ("signals", "decisions", "trades") if counts[k] < mins[k]]
    worst = short[0] if short else min(mins, key=lambda k: counts[k] / max(mins[k], 1))
    return GateResult("data_sufficiency", not short, float(counts[worst]), float(mins[worst]),
                      f"insufficient_{short[0]}" if short else None,
                      {"counts": counts, "minimums": mins, "short": short, "per_fold": per_fold})


def reproducibility(repro: ReproducibilityResult) -> GateResult:
    return GateResult("reproducibility", repro.passed, 1.0 if repro.passed else 0.0, 1.0,
                      None if repro.passed else "reproducibility_mismatch",
                      {"mismatched": list(repro.mismatches), "expected": repro.expected,
                       "observed": repro.observed})


def evaluate_gates(ev: Evaluation, cfg: CycleConfig, repro: ReproducibilityResult,
                   ctx: LedgerContext) -> tuple[GateResult, ...]:
    pol = cfg.gates
    pnl = ev.oos_pnl
    rets = ev.oos_returns
    results = [data_sufficiency(ev, cfg), reproducibility(repro)]

    sr = sharpe_annualised(pnl)
    results.append(GateResult("oos_sharpe", sr >= pol.min_oos_sharpe, sr, pol.min_oos_sharpe,
                              None if sr >= pol.min_oos_sharpe else "oos_sharpe_below_minimum",
                              {"annualised": True}))

    positive = sum(1 for f in ev.folds if f.pnl > 0) / max(len(ev.folds), 1)
    sharpes = [f.sharpe for f in ev.folds]
    ok = positive >= pol.min_positive_fold_share
    results.append(GateResult("fold_stability", ok, positive, pol.min_positive_fold_share,
                              None if ok else "fold_stability",
                              {"fold_sharpes": sharpes, "worst_fold_sharpe": min(sharpes, default=0.0),
                               "fold_sharpe_dispersion": float(np.std(sharpes)) if sharpes else 0.0}))

    dd = max_drawdown(pnl) / ev.capital
    ok = dd <= pol.max_drawdown_share
    results.append(GateResult("max_drawdown", ok, dd, pol.max_drawdown_share,
                              None if ok else "drawdown_exceeds_maximum",
                              {"max_drawdown_pnl": max_drawdown(pnl), "capital": ev.capital,
                               "worst_day_pnl": float(pnl.min()) if pnl.size else 0.0}))

    x2 = next(s for s in ev.stress if s.scenario == "cost_x2").pnl_total
    ok = x2 > pol.min_cost_x2_pnl
    results.append(GateResult("cost_robustness", ok, x2, pol.min_cost_x2_pnl,
                              None if ok else "cost_robustness", {"scenario": "cost_x2"}))

    if rets.size >= 2:
        lb = stats.mean_return_confidence_lower_bound(rets, level=pol.confidence_level, method="t")
    else:
        lb = float("-inf")
    ok = lb > pol.min_confidence_lower_bound
    results.append(GateResult("confidence_envelope", ok, _finite(lb), pol.min_confidence_lower_bound,
                              None if ok else "confidence_envelope",
                              {"level": pol.confidence_level, "method": "student_t",
                               "mean_daily_return": float(rets.mean()) if rets.size else None}))

    psr = stats.psr_from_returns(rets, 0.0) if rets.size >= 3 else 0.0
    ok = psr >= pol.min_psr
    results.append(GateResult("probabilistic_sharpe", ok, psr, pol.min_psr,
                              None if ok else "psr_below_minimum", {"benchmark_sharpe": 0.0}))

    trial_sharpes = np.array(ctx.trial_sharpes, dtype=np.float64)
    var_sr = float(trial_sharpes.var(ddof=1)) if trial_sharpes.size >= 2 else 0.0
    if rets.size >= 3:
        dsr = stats.deflated_sharpe_ratio(rets, max(ctx.n_trials, 1), var_sr)
        dsr_value, sr_star = dsr.dsr, dsr.sr_star
    else:
        dsr_value, sr_star = 0.0, float("nan")
    ok = dsr_value >= pol.min_dsr
    results.append(GateResult("deflated_sharpe", ok, dsr_value, pol.min_dsr,
                              None if ok else "dsr_below_minimum",
                              {"n_trials": ctx.n_trials, "trial_sharpe_variance": var_sr,
                               "sr_star_per_period": _finite(sr_star)}))

    mat = ev.grid_daily_returns
    n_splits = min(16, (mat.shape[0] // 2) * 2)
    if mat.shape[1] >= 2 and n_splits >= 4:
        pbo = stats.probability_of_backtest_overfitting(mat, n_splits=n_splits)
        pbo_value, combos = pbo.pbo, pbo.n_combinations
    else:
        pbo_value, combos = 1.0, 0
    ok = pbo_value <= pol.max_pbo
    results.append(GateResult("backtest_overfitting", ok, pbo_value, pol.max_pbo,
                              None if ok else "pbo_exceeds_maximum",
                              {"n_splits": n_splits, "n_combinations": combos}))
    assert tuple(g.name for g in results) == GATE_ORDER
    return tuple(results)
