"""Promotion gates: evidence + policy -> one :class:`GateResult` per gate, in a fixed order.

Every gate is a pure function of the evaluation, the policy and the ledger context, returns
``{name, passed, value, threshold, reason_code, details}`` and is ledgered whether it passed or
not. ``REQUIRED`` lists the gates a promotion needs; data sufficiency and reproducibility are the
integrity gates that also stand as blocking Dagster asset checks; ``MANDATORY`` are the gates no
caller can waive. Fold stability, risk and the Sharpe-significance gate are made of sub-checks
(:class:`Check`), each with its own threshold and reason code. The publication window comes last
because it asks whether *all the other* evidence has held for long enough. Thresholds live in the
versioned :class:`~qgap_assets.promotion.policy.GatePolicy`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qgap_assets.config import CycleConfig
from qgap_assets.promotion import stats
from qgap_assets.research import kernels
from qgap_assets.research.evaluation import Evaluation
from qgap_assets.promotion.policy import GatePolicy
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
    """What the ledger knows that the gates need.

    * the trial registry (``n_trials``, ``trial_sharpes``) for the deflated Sharpe ratio;
    * the publication window: how many consecutive earlier cycles of this strategy and contract
      held passing evidence for the same candidate (``window_prior_cycles``) and the last
      out-of-sample session of the first of them (``window_first_session``). Filled in by
      :func:`qgap_assets.promotion.window.with_publication_window`; the defaults mean "no
      earlier evidence", which the default policy (1 cycle, 0 sessions) accepts.
    """

    n_trials: int
    trial_sharpes: tuple[float, ...]
    window_prior_cycles: int = 0
    window_first_session: str | None = None
    calendar: str = "XNYS"


GATE_ORDER = ("data_sufficiency", "reproducibility", "oos_sharpe", "fold_stability", "risk",
              "cost_robustness", "confidence_envelope", "deflated_sharpe",
              "backtest_overfitting", "publication_window")
REQUIRED = frozenset(GATE_ORDER)
INTEGRITY_GATES = ("data_sufficiency", "reproducibility")
# Gates a promotion can never do without, whatever a policy's ``required`` set says.
MANDATORY = frozenset({"data_sufficiency", "reproducibility", "fold_stability", "risk"})
PUBLICATION_WINDOW_OPEN = "publication_window_open"


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class Check:
    """One sub-check of a multi-check gate: ``value`` must be >= (``at_least``) or <= the
    ``threshold``; ``reason_code`` names the failure."""

    name: str
    value: float
    threshold: float
    at_least: bool
    reason_code: str

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold if self.at_least else self.value <= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "value": _finite(self.value), "threshold": self.threshold,
                "passed": self.passed, "reason_code": None if self.passed else self.reason_code}


def _multi(name: str, checks: list[Check], details: dict[str, Any]) -> GateResult:
    """A gate made of sub-checks: passes when all pass; value/threshold/reason are those of the
    first failing check (else the first check), and ``details.reason_codes`` lists every failing
    check's code so the decision can name them all."""
    failed = [c for c in checks if not c.passed]
    shown = failed[0] if failed else checks[0]
    return GateResult(name, not failed, _finite(shown.value), shown.threshold,
                      shown.reason_code if failed else None,
                      {**details, "checks": [c.as_dict() for c in checks],
                       "reason_codes": [c.reason_code for c in failed]})


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


def fold_stability(ev: Evaluation, pol: GatePolicy) -> GateResult:
    """Share of positive test folds, worst-fold Sharpe and dispersion (std) of fold Sharpes
    (annualised): an edge that lives in one fold is luck, not an edge."""
    sharpes = [f.sharpe for f in ev.folds]
    positive = sum(1 for f in ev.folds if f.pnl > 0) / max(len(ev.folds), 1)
    worst = min(sharpes, default=0.0)
    dispersion = float(np.std(sharpes)) if sharpes else 0.0
    return _multi("fold_stability", [
        Check("positive_fold_share", positive, pol.min_positive_fold_share, True, "fold_stability"),
        Check("worst_fold_sharpe", worst, pol.min_worst_fold_sharpe, True,
              "worst_fold_sharpe_below_minimum"),
        Check("fold_sharpe_dispersion", dispersion, pol.max_fold_sharpe_dispersion, False,
              "fold_sharpe_dispersion_exceeds_maximum"),
    ], {"fold_sharpes": sharpes})


def risk(ev: Evaluation, pol: GatePolicy) -> GateResult:
    """Max drawdown, worst day, gross exposure and daily turnover, all as fractions of capital.

    Turnover is the execution engine's traded notional per session (the refit candidate over
    every session) divided by capital.
    Gross exposure is bounded by the execution model: at most one share per symbol, and capital
    is the notional of one share of every symbol at its mean close.
    """
    pnl = ev.oos_pnl
    dd = max_drawdown(pnl) / ev.capital
    worst_day = max(0.0, -float(pnl.min())) / ev.capital if pnl.size else 0.0
    days = max(len(ev.oos_dates), 1)
    daily = getattr(ev, "candidate_daily", None)
    if daily is not None and daily.ndim == 2 and daily.shape[0] and daily.shape[1] > kernels.R_NOTIONAL:
        turnover = float(daily[:, kernels.R_NOTIONAL].mean()) / ev.capital
        basis = "mean traded notional per session / capital (execution engine)"
    else:
        trades = next(s for s in ev.stress if s.scenario == "base").trades
        turnover = 2.0 * trades / days  # bound: a fill's notional is at most 2 x capital share
        basis = "fills per session (traded notional not recorded)"
    return _multi("risk", [
        Check("max_drawdown", dd, pol.max_drawdown_share, False, "drawdown_exceeds_maximum"),
        Check("worst_day_loss", worst_day, pol.max_worst_day_loss_share, False,
              "worst_day_loss_exceeds_maximum"),
        Check("gross_exposure", 1.0, pol.max_gross_exposure, False,
              "gross_exposure_exceeds_maximum"),
        Check("daily_turnover", turnover, pol.max_daily_turnover, False,
              "turnover_exceeds_maximum"),
    ], {"max_drawdown_pnl": max_drawdown(pnl), "capital": ev.capital,
        "worst_day_pnl": float(pnl.min()) if pnl.size else 0.0, "turnover_basis": basis,
        "gross_exposure_basis": "unit position per symbol / capital"})


def null_trial_variance(trial_sharpes: tuple[float, ...], n_obs: int) -> float:
    """V, the variance of the trials' Sharpe ratios in the deflated Sharpe ratio's null.

    Bailey & Lopez de Prado (2014) estimate it as the cross-sectional variance of the trials'
    per-period Sharpe ratios. Under the null (no trial has an edge) that variance is the
    sampling variance of a Sharpe estimate, about ``1/(T-1)`` (Lo 2002); dispersion beyond that
    comes from real differences between the trials (cost drag on short lookbacks, a real edge
    on some), not from luck, and would inflate the expected maximum Sharpe. So V is the
    cross-sectional variance capped at ``1/(T-1)``; correlated trials (smaller variance) keep
    their smaller value.
    """
    sr = np.array(trial_sharpes, dtype=np.float64)
    if sr.size < 2:
        return 0.0
    cross = float(sr.var(ddof=1))
    return min(cross, 1.0 / (n_obs - 1)) if n_obs >= 2 else cross


def sharpe_significance(ev: Evaluation, pol: GatePolicy, ctx: LedgerContext) -> GateResult:
    """PSR against a zero benchmark and DSR against the expected maximum Sharpe of every trial
    ever ledgered for this strategy and contract (Bailey & Lopez de Prado 2012, 2014; formulas
    in ``promotion.stats``)."""
    rets = ev.oos_returns
    psr = stats.psr_from_returns(rets, 0.0) if rets.size >= 3 else 0.0
    var_sr = null_trial_variance(ctx.trial_sharpes, ev.trials[0].n_obs if ev.trials else 0)
    if rets.size >= 3:
        dsr = stats.deflated_sharpe_ratio(rets, max(ctx.n_trials, 1), var_sr)
        dsr_value, sr_star = dsr.dsr, dsr.sr_star
    else:
        dsr_value, sr_star = 0.0, float("nan")
    return _multi("deflated_sharpe", [
        Check("deflated_sharpe_ratio", dsr_value, pol.min_dsr, True, "dsr_below_minimum"),
        Check("probabilistic_sharpe_ratio", psr, pol.min_psr, True, "psr_below_minimum"),
    ], {"n_trials": ctx.n_trials, "trial_sharpe_variance_null": var_sr,
        "sr_star_per_period": _finite(sr_star), "psr_benchmark_sharpe": 0.0})


def sessions_between(first: str, last: str, calendar: str = "XNYS") -> int:
    """Market sessions in (first, last]: how much new market the evidence has lived through."""
    if last <= first:
        return 0
    import pandas as pd

    from qgap_assets.data.sessions import session_schedule

    sched = session_schedule(pd.Timestamp(first), pd.Timestamp(last), calendar)
    return int(sum(1 for d in sched.index if str(d.date()) > first))


def publication_window(evidence: tuple[GateResult, ...], ev: Evaluation, pol: GatePolicy,
                       ctx: LedgerContext) -> GateResult:
    """Passing evidence must have stood in the ledger for ``min_cycles`` consecutive cycles
    spanning ``min_sessions`` market sessions before it is acted upon (no promotion on one
    lucky cycle). This cycle counts when every other gate passed; the window is then the
    earlier streak (from the ledger) plus this cycle."""
    current_passes = all(g.passed for g in evidence)
    last = ev.oos_dates[-1] if ev.oos_dates else ""
    cycles = ctx.window_prior_cycles + 1 if current_passes else 0
    first = ctx.window_first_session if ctx.window_prior_cycles and current_passes else last
    sessions = sessions_between(first or last, last, ctx.calendar) if current_passes else 0
    missing_cycles = max(pol.min_cycles - cycles, 0)
    missing_sessions = max(pol.min_sessions - sessions, 0)
    ok = current_passes and not missing_cycles and not missing_sessions
    return GateResult("publication_window", ok, float(cycles), float(pol.min_cycles),
                      None if ok else PUBLICATION_WINDOW_OPEN,
                      {"cycles": cycles, "sessions": sessions, "min_cycles": pol.min_cycles,
                       "min_sessions": pol.min_sessions, "missing_cycles": missing_cycles,
                       "missing_sessions": missing_sessions, "evidence_passed_now": current_passes,
                       "window_first_session": first, "last_session": last})


def evaluate_gates(ev: Evaluation, cfg: CycleConfig, repro: ReproducibilityResult,
                   ctx: LedgerContext) -> tuple[GateResult, ...]:
    """Every gate in ``GATE_ORDER``; a pure function of its arguments."""
    pol = cfg.gates
    pnl = ev.oos_pnl
    rets = ev.oos_returns
    results = [data_sufficiency(ev, cfg), reproducibility(repro)]

    sr = sharpe_annualised(pnl)
    results.append(GateResult("oos_sharpe", sr >= pol.min_oos_sharpe, sr, pol.min_oos_sharpe,
                              None if sr >= pol.min_oos_sharpe else "oos_sharpe_below_minimum",
                              {"annualised": True}))
    results.append(fold_stability(ev, pol))
    results.append(risk(ev, pol))

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
    results.append(sharpe_significance(ev, pol, ctx))

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
    results.append(publication_window(tuple(results), ev, pol, ctx))
    assert tuple(g.name for g in results) == GATE_ORDER
    return tuple(results)
