"""Walk-forward evaluation of the intraday TSMOM grid: the research core of one cycle.

One call does everything the promotion gates need, on flat arrays:
1. the whole grid is simulated once over every session (the strategy holds nothing overnight,
   so a session's PnL does not depend on which fold it falls in);
2. on each fold the grid point with the best per-period Sharpe of train-session daily PnL is
   chosen (ties: first in grid order) and scored on the fold's test sessions;
3. the concatenated test sessions are the candidate's out-of-sample track;
4. stress scenarios re-simulate the grid with perturbed costs, spread or latency and re-score the
   same choices, or re-score the base track on a subset of days (best 5 % dropped, high- and
   low-volatility halves).
The grid is simulated by the realistic engine (``execution_model.py``) under the configured
:class:`ExecutionModel`; with every friction at zero it is the frictionless simulator.
The candidate's parameter set is the same selection rule applied to every session (the refit);
the walk-forward track is the evidence that the *rule* works out of sample.

Daily returns are daily PnL divided by ``capital`` = ``order_shares`` times the sum over symbols of
the mean close, the notional of holding one position in every symbol.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qgap_assets.config import CycleConfig
from qgap_assets.data.sessions import SessionLayout
from qgap_assets.errors import InputValidationError
from qgap_assets.ledger.hashing import hash_obj
from qgap_assets.research import kernels
from qgap_assets.research.backtest import GridStats, Params, grid_points
from qgap_assets.research.execution_model import (ExecutionModel, Scenario, grid_stats,
                                                  kernel_inputs)
from qgap_assets.research.features import FeatureContract, FeatureSet
from qgap_assets.research.metrics import max_drawdown, sharpe_annualised
from qgap_assets.research.walkforward import Fold, make_folds
from qgap_assets.research.windows import market_day_stats

SIMULATED_SCENARIOS = (Scenario("cost_x2", cost_mult=2.0), Scenario("cost_x3", cost_mult=3.0),
                       Scenario("spread_x2", spread_mult=2.0),
                       Scenario("latency_plus_1", extra_latency=1),
                       Scenario("latency_plus_2", extra_latency=2))
SUBSET_SCENARIOS = ("drop_best_5pct_days", "high_vol_half", "low_vol_half")
STRESS_SCENARIOS = ("base",) + tuple(s.name for s in SIMULATED_SCENARIOS) + SUBSET_SCENARIOS

# Funnel keys (in funnel order) and the kernel column each one counts.
FUNNEL_COLUMNS = {
    "warmup": kernels.R_WARMUP, "data_stale": kernels.R_STALE,
    "below_threshold": kernels.R_BELOW, "no_next_bar": kernels.R_NO_NEXT,
    "signals": kernels.R_SIGNALS, "hysteresis_hold": kernels.R_HOLD,
    "risk_block": kernels.R_RISK_BLOCK, "decisions": kernels.R_DECISIONS,
    "orders": kernels.R_ORDERS, "fills": kernels.R_FILLS, "full_fills": kernels.R_FULL,
    "partial_fills": kernels.R_PARTIAL, "participation_cap": kernels.R_CAPPED,
    "ioc_cancelled": kernels.R_IOC_CANCEL, "session_end_cancel": kernels.R_SESSION_END_CANCEL,
    "order_replaced": kernels.R_REPLACED, "session_flattens": kernels.R_FLATTENS,
    "trades": kernels.R_FILLS,
}


@dataclass(frozen=True)
class FoldResult:
    index: int
    train_start: str
    train_end: str
    test_start: str
    test_end: str
    n_train_sessions: int
    n_test_sessions: int
    params: Params
    signals: int
    decisions: int
    trades: int
    pnl: float
    sharpe: float
    max_drawdown: float
    funnel: dict[str, int] = field(default_factory=dict, compare=False)

    def record(self) -> dict[str, object]:
        return {"fold_index": self.index, "train_start": self.train_start, "train_end": self.train_end,
                "test_start": self.test_start, "test_end": self.test_end,
                "n_train_sessions": self.n_train_sessions, "n_test_sessions": self.n_test_sessions,
                "params": self.params.as_dict(), "signals": self.signals,
                "decisions": self.decisions, "trades": self.trades, "pnl": self.pnl,
                "sharpe": self.sharpe, "max_drawdown": self.max_drawdown}


@dataclass(frozen=True)
class StressResult:
    scenario: str
    pnl_total: float
    sharpe: float
    trades: int
    details: dict[str, object] = field(default_factory=dict)

    def record(self) -> dict[str, object]:
        return {"scenario": self.scenario, "pnl_total": self.pnl_total, "sharpe": self.sharpe,
                "trades": self.trades, "details": self.details}


@dataclass(frozen=True)
class Trial:
    """One grid point evaluated in this cycle: the trial registry feeding the deflated Sharpe."""

    params: Params
    sharpe_per_period: float
    n_obs: int


@dataclass(frozen=True)
class Evaluation:
    contract_hash: str
    params: Params
    folds: tuple[FoldResult, ...]
    oos_dates: tuple[str, ...]
    oos_pnl: np.ndarray
    capital: float
    stress: tuple[StressResult, ...]
    funnel: dict[str, int]
    trials: tuple[Trial, ...]
    grid_daily_returns: np.ndarray  # (n_dates, n_params), for PBO
    result_hash: str
    execution_model: dict[str, object] = field(default_factory=dict)
    dates: tuple[str, ...] = ()
    candidate_daily: np.ndarray = field(default_factory=lambda: np.zeros((0, kernels.N_RSTATS)))
    funnel_note: str = ""
    result_content: dict[str, object] = field(default_factory=dict)  # what result_hash hashes

    @property
    def oos_returns(self) -> np.ndarray:
        return self.oos_pnl / self.capital


def _per_period_sharpe(x: np.ndarray) -> float:
    if x.shape[0] < 2:
        return 0.0
    sd = float(x.std(ddof=1))
    return float(x.mean() / sd) if sd > 0 else 0.0


def _choose(daily: np.ndarray, rows: np.ndarray) -> int:
    scores = [_per_period_sharpe(daily[rows, p]) for p in range(daily.shape[1])]
    return int(np.argmax(scores))  # argmax returns the first of equal maxima: grid order


def _session_mask(layout: SessionLayout, dates: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return np.isin(layout.session_date, dates[positions])


def _track(daily: np.ndarray, folds: list[Fold], choices: list[int]) -> np.ndarray:
    return np.concatenate([daily[f.test, choices[f.index]] for f in folds])


def funnel_counts(stats: np.ndarray, bars: int, outside_session: int = 0) -> dict[str, int]:
    """The signal -> decision -> trade funnel from summed kernel stats (one row)."""
    out = {"bars": int(bars), "outside_session": int(outside_session)}
    out.update({k: int(stats[c]) for k, c in FUNNEL_COLUMNS.items()})
    return out


def explain_funnel(funnel: dict[str, int]) -> str:
    """Why a funnel with signals has no decisions (or no trades); empty when nothing is odd."""
    if funnel.get("signals", 0) > 0 and funnel.get("decisions", 0) == 0:
        blocked = {k: funnel.get(k, 0) for k in ("hysteresis_hold", "risk_block")}
        return ("signals but zero decisions: every signal repeated the current target "
                f"(hysteresis_hold={blocked['hysteresis_hold']}) or was blocked by the session "
                f"order limit (risk_block={blocked['risk_block']})")
    if funnel.get("decisions", 0) > 0 and funnel.get("fills", 0) == 0:
        return ("decisions but zero fills: orders were cancelled "
                f"(ioc_cancelled={funnel.get('ioc_cancelled', 0)}, session_end_cancel="
                f"{funnel.get('session_end_cancel', 0)}, participation_cap="
                f"{funnel.get('participation_cap', 0)})")
    if funnel.get("bars", 0) > 0 and funnel.get("signals", 0) == 0:
        return ("bars but zero signals: every decision point was in warm-up, stale, below the "
                "threshold or too late in the session")
    return ""


def _stress(name: str, track: np.ndarray, trades: int, details: dict[str, object]) -> StressResult:
    return StressResult(name, float(track.sum()), sharpe_annualised(track), int(trades), details)


def evaluate(layout: SessionLayout, features: FeatureSet, contract: FeatureContract,
             cfg: CycleConfig, outside_session: int = 0) -> Evaluation:
    if features.contract_hash != contract.hash():
        raise ValueError("features were computed under a different contract")
    params = grid_points(cfg.grid.lookbacks, cfg.grid.thresholds)
    missing = [p.lookback for p in params if p.lookback not in contract.lookbacks]
    if missing:
        raise InputValidationError(f"grid lookbacks {missing} are not in feature contract "
                                   f"{contract.name}@{contract.version} (rule 'grid.lookbacks')")
    model: ExecutionModel = cfg.execution_model()
    inputs = kernel_inputs(layout, model, contract.feature_lag)
    rows = np.array([features.lookbacks.index(p.lookback) for p in params], dtype=np.int64)
    thetas = np.array([p.threshold for p in params], dtype=np.float64)

    def simulate(sc: Scenario, only: list[int] | None = None) -> GridStats:
        sel = np.arange(len(params)) if only is None else np.asarray(only, dtype=np.int64)
        return GridStats(tuple(params[p] for p in sel),
                         grid_stats(layout, features.values, rows[sel], thetas[sel], model, inputs, sc))

    dates = layout.dates()
    folds = make_folds(dates.shape[0], cfg.walk_forward)
    grid = simulate(Scenario("base"))
    daily = grid.daily(layout, kernels.R_PNL).to_numpy()
    choices = [_choose(daily, f.train) for f in folds]
    session_bars = np.diff(layout.offsets)

    fold_results = []
    funnel_total = np.zeros(kernels.N_RSTATS)
    n_test_bars = 0
    for f, p in zip(folds, choices):
        mask = _session_mask(layout, dates, f.test)
        st = grid.stats[p][mask].sum(axis=0)
        funnel_total += st
        fold_bars = int(session_bars[mask].sum())
        n_test_bars += fold_bars
        test_daily = daily[f.test, p]
        fold_results.append(FoldResult(
            index=f.index,
            train_start=str(dates[f.train[0]]) if f.train.size else "",
            train_end=str(dates[f.train[-1]]) if f.train.size else "",
            test_start=str(dates[f.test[0]]), test_end=str(dates[f.test[-1]]),
            n_train_sessions=int(f.train.size), n_test_sessions=int(f.test.size),
            params=params[p], signals=int(st[kernels.R_SIGNALS]),
            decisions=int(st[kernels.R_DECISIONS]), trades=int(st[kernels.R_FILLS]),
            pnl=float(test_daily.sum()), sharpe=sharpe_annualised(test_daily),
            max_drawdown=max_drawdown(test_daily), funnel=funnel_counts(st, fold_bars)))

    oos_pos = np.concatenate([f.test for f in folds])
    oos_pnl = _track(daily, folds, choices)
    _, sym_of_session = np.unique(layout.session_symbol, return_inverse=True)
    sym_of_bar = np.repeat(sym_of_session, session_bars)
    close_sum = np.bincount(sym_of_bar, weights=layout.close)
    capital = float((close_sum / np.bincount(sym_of_bar)).sum()) * model.order_shares

    # Stress re-scores the same per-fold choices: only the chosen grid points are re-simulated.
    chosen = sorted(set(choices))
    local = [chosen.index(p) for p in choices]

    def oos_fills(g: GridStats) -> int:
        return int(sum(g.stats[p][_session_mask(layout, dates, f.test)][:, kernels.R_FILLS].sum()
                       for f, p in zip(folds, local)))

    stress = [_stress("base", oos_pnl, int(funnel_total[kernels.R_FILLS]),
                      {"execution_model_hash": model.hash()})]
    for sc in SIMULATED_SCENARIOS:
        g = simulate(sc, chosen)
        stress.append(_stress(sc.name, _track(g.daily(layout, kernels.R_PNL).to_numpy(), folds,
                                              local), oos_fills(g),
                              {"cost_mult": sc.cost_mult, "spread_mult": sc.spread_mult,
                               "extra_latency_bars": sc.extra_latency}))
    stress.extend(_subset_stress(layout, grid, dates, oos_pos, oos_pnl, folds, choices))

    all_rows = np.arange(dates.shape[0])
    cand_idx = _choose(daily, all_rows)
    candidate = params[cand_idx]
    trials = tuple(Trial(params[p], _per_period_sharpe(daily[:, p]), int(dates.shape[0]))
                   for p in range(len(params)))
    _, day_of_session = np.unique(layout.session_date, return_inverse=True)
    cand_daily = np.stack([np.bincount(day_of_session, weights=grid.stats[cand_idx, :, c],
                                       minlength=dates.shape[0]) for c in range(kernels.N_RSTATS)],
                          axis=1)
    funnel = funnel_counts(funnel_total, n_test_bars, outside_session)
    oos_dates = tuple(str(d) for d in dates[oos_pos])
    content = {
        "contract_hash": contract.hash(), "params": candidate.as_dict(),
        "execution_model": model.canonical(),
        "folds": [{**fr.record(), "funnel": fr.funnel} for fr in fold_results],
        "oos_dates": list(oos_dates), "oos_pnl": oos_pnl.tolist(), "capital": capital,
        "stress": [s.record() for s in stress], "funnel": funnel,
        "trials": [{"params": t.params.as_dict(), "sharpe": t.sharpe_per_period, "n_obs": t.n_obs}
                   for t in trials],
    }
    return Evaluation(contract.hash(), candidate, tuple(fold_results), oos_dates, oos_pnl, capital,
                      tuple(stress), funnel, trials, daily / capital, hash_obj(content),
                      execution_model=model.canonical(), dates=tuple(str(d) for d in dates),
                      candidate_daily=cand_daily, funnel_note=explain_funnel(funnel),
                      result_content=content)


def _subset_stress(layout: SessionLayout, grid: GridStats, dates: np.ndarray, oos_pos: np.ndarray,
                   oos_pnl: np.ndarray, folds: list[Fold], choices: list[int]) -> list[StressResult]:
    """Re-score the base OOS track on subsets of its days: best 5 % dropped, vol halves."""
    fills = np.zeros(oos_pos.shape[0])
    at = 0
    for f, p in zip(folds, choices):
        fills[at:at + f.test.size] = grid.daily(layout, kernels.R_FILLS).to_numpy()[f.test, p]
        at += f.test.size
    n_drop = int(np.ceil(0.05 * oos_pnl.shape[0]))
    keep = np.ones(oos_pnl.shape[0], dtype=bool)
    keep[np.argsort(-oos_pnl, kind="stable")[:n_drop]] = False
    out = [_stress("drop_best_5pct_days", oos_pnl[keep], int(fills[keep].sum()),
                   {"dropped_days": n_drop})]
    vol = market_day_stats(layout).loc[dates[oos_pos], "realized_vol"].to_numpy()
    median = float(np.median(vol)) if vol.size else 0.0
    for name, sel in (("high_vol_half", vol > median), ("low_vol_half", vol <= median)):
        out.append(_stress(name, oos_pnl[sel], int(fills[sel].sum()),
                           {"days": int(sel.sum()), "median_realized_vol": median,
                            "rule": "OOS days split at the median of the market's realized vol"}))
    return out
