"""Walk-forward evaluation of the intraday TSMOM grid: the research core of one cycle.

One call does everything the promotion gates need, on flat arrays:
1. the whole grid is simulated once over every session (the strategy holds nothing overnight,
   so a session's PnL does not depend on which fold it falls in);
2. on each fold the grid point with the best per-period Sharpe of train-session daily PnL is
   chosen (ties: first in grid order) and scored on the fold's test sessions;
3. the concatenated test sessions are the candidate's out-of-sample track;
4. stress scenarios re-simulate the grid with perturbed costs and re-score the same choices.
The candidate's parameter set is the same selection rule applied to every session (the refit);
the walk-forward track is the evidence that the *rule* works out of sample.

Daily returns are daily PnL divided by ``capital`` = the sum over symbols of the mean close, the
notional of holding one share of every symbol.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qgap_assets.config import CycleConfig
from qgap_assets.data.sessions import SessionLayout
from qgap_assets.errors import InputValidationError
from qgap_assets.ledger.hashing import hash_obj
from qgap_assets.research import kernels
from qgap_assets.research.backtest import GridStats, Params, evaluate_grid, grid_points
from qgap_assets.research.features import FeatureContract, FeatureSet
from qgap_assets.research.metrics import max_drawdown, sharpe_annualised
from qgap_assets.research.walkforward import Fold, make_folds

STRESS_COST_MULTIPLIERS = {"cost_x2": 2.0, "cost_x3": 3.0}


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


def _fold_stats(grid: GridStats, mask: np.ndarray, p: int) -> np.ndarray:
    return grid.stats[p][mask].sum(axis=0)


def _track(grid: GridStats, daily: np.ndarray, folds: list[Fold], choices: list[int]) -> np.ndarray:
    return np.concatenate([daily[f.test, choices[f.index]] for f in folds])


def evaluate(layout: SessionLayout, features: FeatureSet, contract: FeatureContract,
             cfg: CycleConfig, outside_session: int = 0) -> Evaluation:
    if features.contract_hash != contract.hash():
        raise ValueError("features were computed under a different contract")
    params = grid_points(cfg.grid.lookbacks, cfg.grid.thresholds)
    missing = [p.lookback for p in params if p.lookback not in contract.lookbacks]
    if missing:
        raise InputValidationError(f"grid lookbacks {missing} are not in feature contract "
                                   f"{contract.name}@{contract.version} (rule 'grid.lookbacks')")
    dates = layout.dates()
    folds = make_folds(dates.shape[0], cfg.walk_forward)
    grid = evaluate_grid(layout, features, params, cfg.grid.cost_bps)
    daily_frame = grid.daily(layout)
    daily = daily_frame.to_numpy()
    choices = [_choose(daily, f.train) for f in folds]

    fold_results = []
    funnel_total = np.zeros(kernels.N_STATS)
    for f, p in zip(folds, choices):
        mask = _session_mask(layout, dates, f.test)
        st = _fold_stats(grid, mask, p)
        funnel_total += st
        test_daily = daily[f.test, p]
        fold_results.append(FoldResult(
            index=f.index,
            train_start=str(dates[f.train[0]]) if f.train.size else "",
            train_end=str(dates[f.train[-1]]) if f.train.size else "",
            test_start=str(dates[f.test[0]]), test_end=str(dates[f.test[-1]]),
            n_train_sessions=int(f.train.size), n_test_sessions=int(f.test.size),
            params=params[p], signals=int(st[kernels.SIGNALS]), decisions=int(st[kernels.DECISIONS]),
            trades=int(st[kernels.FILLS]), pnl=float(test_daily.sum()),
            sharpe=sharpe_annualised(test_daily), max_drawdown=max_drawdown(test_daily)))

    oos_pos = np.concatenate([f.test for f in folds])
    oos_pnl = _track(grid, daily, folds, choices)
    mean_close = pd.Series(layout.close).groupby(
        np.repeat(layout.session_symbol, np.diff(layout.offsets))).mean()
    capital = float(mean_close.sum())

    stress = [StressResult("base", float(oos_pnl.sum()), sharpe_annualised(oos_pnl),
                           int(funnel_total[kernels.FILLS]), {"cost_bps": cfg.grid.cost_bps})]
    for name, mult in STRESS_COST_MULTIPLIERS.items():
        g = evaluate_grid(layout, features, params, cfg.grid.cost_bps * mult)
        track = _track(g, g.daily(layout).to_numpy(), folds, choices)
        stress.append(StressResult(name, float(track.sum()), sharpe_annualised(track),
                                   int(funnel_total[kernels.FILLS]),
                                   {"cost_bps": cfg.grid.cost_bps * mult}))

    all_rows = np.arange(dates.shape[0])
    candidate = params[_choose(daily, all_rows)]
    trials = tuple(Trial(params[p], _per_period_sharpe(daily[:, p]), int(dates.shape[0]))
                   for p in range(len(params)))
    n_test_bars = int(sum(np.diff(layout.offsets)[_session_mask(layout, dates, oos_pos)]))
    funnel = {
        "bars": n_test_bars + 0,
        "outside_session": int(outside_session),
        "warmup": int(funnel_total[kernels.WARMUP]),
        "below_threshold": int(funnel_total[kernels.BELOW]),
        "no_next_bar": int(funnel_total[kernels.NO_NEXT]),
        "signals": int(funnel_total[kernels.SIGNALS]),
        "hysteresis_hold": int(funnel_total[kernels.HOLD]),
        "decisions": int(funnel_total[kernels.DECISIONS]),
        "orders": int(funnel_total[kernels.DECISIONS] + funnel_total[kernels.FLATTENS]),
        "fills": int(funnel_total[kernels.FILLS]),
        "session_flattens": int(funnel_total[kernels.FLATTENS]),
        "trades": int(funnel_total[kernels.FILLS]),
    }
    oos_dates = tuple(str(d) for d in dates[oos_pos])
    content = {
        "contract_hash": contract.hash(), "params": candidate.as_dict(),
        "folds": [fr.record() for fr in fold_results], "oos_dates": list(oos_dates),
        "oos_pnl": oos_pnl.tolist(), "capital": capital, "stress": [s.record() for s in stress],
        "funnel": funnel,
        "trials": [{"params": t.params.as_dict(), "sharpe": t.sharpe_per_period, "n_obs": t.n_obs}
                   for t in trials],
    }
    return Evaluation(contract.hash(), candidate, tuple(fold_results), oos_dates, oos_pnl, capital,
                      tuple(stress), funnel, trials, daily / capital, hash_obj(content))
