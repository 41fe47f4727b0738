"""Promotion statistics: the numbers that decide whether a backtest is believable.

Every function here is pure numpy/math (no scipy, no I/O, no clock, seeded randomness only), so a
promotion decision can be recomputed bit-for-bit from the ledger. Each function's docstring cites
the formula and the paper it comes from; the tests re-derive the values by hand from those
formulas.

Units: Sharpe ratios are **per period** (per bar / per day, whatever the returns are), never
annualised. Mixing an annualised benchmark with per-period returns is the classic PSR bug, so
no function here annualises anything.

Bad input raises :class:`StatsInputError`, which is both the project's
:class:`~qgap_assets.errors.InputValidationError` (CLI exit code 2) and a ``ValueError`` (so
generic callers and ``pytest.raises(ValueError)`` catch it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt

from qgap_assets.errors import InputValidationError

__all__ = [
    "EULER_MASCHERONI",
    "StatsInputError",
    "DeflatedSharpeResult",
    "PBOResult",
    "sharpe_ratio",
    "probabilistic_sharpe_ratio",
    "psr_from_returns",
    "expected_max_sharpe",
    "deflated_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "student_t_cdf",
    "student_t_ppf",
    "mean_return_confidence_lower_bound",
    "normal_mixture_rho",
    "normal_mixture_boundary",
    "anytime_valid_lower_bound_path",
    "anytime_valid_mean_lower_bound",
]

EULER_MASCHERONI: float = 0.5772156649015329
_STD_NORMAL = NormalDist()

ArrayLike = npt.ArrayLike


class StatsInputError(InputValidationError, ValueError):
    """Input to a promotion statistic broke a rule (message names the argument and the rule)."""


# --------------------------------------------------------------------------------------------
# input helpers
# --------------------------------------------------------------------------------------------


def _as_1d_finite(values: ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D float64 array or raise naming the offending positions.

    NaN/inf are refused rather than dropped: silently dropping a bar changes ``n_obs`` and with
    it every confidence statement, so the caller must decide what a missing return means.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise StatsInputError(f"{name}: rule 'one-dimensional' broken, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise StatsInputError(
            f"{name}: rule 'finite values' broken at positions {bad[:10].tolist()}"
            + (f" (+{bad.size - 10} more)" if bad.size > 10 else "")
        )
    return arr


def _check_probability(value: float, name: str) -> None:
    if not (0.0 < value < 1.0):
        raise StatsInputError(f"{name}: rule '0 < {name} < 1' broken, got {value!r}")


# --------------------------------------------------------------------------------------------
# Sharpe, PSR, DSR
# --------------------------------------------------------------------------------------------


def sharpe_ratio(returns: ArrayLike) -> float:
    """Per-period Sharpe ratio ``SR = mean(r) / std(r, ddof=1)`` (Sharpe 1966, 1994).

    Not annualised and no risk-free rate is subtracted (pass excess returns if you need one).
    Returns ``0.0`` for fewer than two observations or a zero standard deviation: a flat series
    has no risk-adjusted edge, and returning 0 rather than ``inf``/``nan`` keeps rankings (PBO)
    and gates total orders.
    """
    r = _as_1d_finite(returns, "returns")
    if r.size < 2 or np.ptp(r) == 0.0:  # ptp, not std: std of equal floats can be 1e-18
        return 0.0
    std = float(np.std(r, ddof=1))
    if std == 0.0 or not math.isfinite(std):
        return 0.0
    return float(np.mean(r)) / std


def probabilistic_sharpe_ratio(
    sr_hat: float,
    sr_benchmark: float,
    n_obs: int,
    skew: float,
    kurtosis: float,
) -> float:
    """Probabilistic Sharpe Ratio, Bailey & López de Prado (2012), "The Sharpe Ratio Efficient
    Frontier", Journal of Risk 15(2), eq. for PSR:

        PSR(SR*) = Φ( (ŜR − SR*) · √(n − 1) / √(1 − γ3·ŜR + (γ4 − 1)/4 · ŜR²) )

    ``sr_hat`` and ``sr_benchmark`` are per-period Sharpe ratios, ``skew`` is γ3 and ``kurtosis``
    is γ4, the **non-excess** kurtosis (a normal distribution has γ4 = 3). The result is the
    probability that the true Sharpe ratio exceeds ``sr_benchmark`` given the sample, accounting
    for track-record length and non-normal returns (negative skew and fat tails widen the
    sampling distribution of ŜR and lower PSR).

    Raises :class:`StatsInputError` for ``n_obs < 2`` or when the variance term under the root
    is not positive (possible only for extreme skew with a large per-period ŜR, where the
    asymptotic formula does not apply).
    """
    if n_obs < 2:
        raise StatsInputError(f"n_obs: rule 'n_obs >= 2' broken, got {n_obs!r}")
    for name, value in (("sr_hat", sr_hat), ("sr_benchmark", sr_benchmark), ("skew", skew),
                        ("kurtosis", kurtosis)):
        if not math.isfinite(value):
            raise StatsInputError(f"{name}: rule 'finite' broken, got {value!r}")
    var_term = 1.0 - skew * sr_hat + (kurtosis - 1.0) / 4.0 * sr_hat**2
    if var_term <= 0.0:
        raise StatsInputError(
            "PSR variance term 1 - skew*sr_hat + (kurtosis-1)/4*sr_hat^2 must be > 0, got "
            f"{var_term!r} (sr_hat={sr_hat!r}, skew={skew!r}, kurtosis={kurtosis!r})"
        )
    z = (sr_hat - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(var_term)
    return _STD_NORMAL.cdf(z)


def _moments(r: np.ndarray) -> tuple[float, float, float]:
    """(sr_hat with ddof=1, population skew γ3, population non-excess kurtosis γ4).

    γ3 and γ4 use biased (ddof=0) central moments, as in Bailey & López de Prado's estimator.

    A constant series (e.g. a configuration that never traded) has no defined skew/kurtosis; it
    gets ŜR = 0 (the :func:`sharpe_ratio` convention) with the normal reference γ3 = 0, γ4 = 3,
    so PSR against 0 is exactly 0.5 ("no evidence either way") instead of an exception that would
    abort a whole gate run for a strategy that merely did nothing. Fewer than 2 observations
    still raise: there is no sample at all.
    """
    if r.size < 2:
        raise StatsInputError(f"returns: rule 'at least 2 observations' broken, got n={r.size}")
    mean = float(np.mean(r))
    centered = r - mean
    m2 = float(np.mean(centered**2))
    # ptp, not m2 == 0: the mean of equal floats can differ from them in the last bit.
    if np.ptp(r) == 0.0 or m2 == 0.0:
        return 0.0, 0.0, 3.0
    skew = float(np.mean(centered**3)) / m2**1.5
    kurt = float(np.mean(centered**4)) / m2**2
    sr = mean / float(np.std(r, ddof=1))
    return sr, skew, kurt


def psr_from_returns(returns: ArrayLike, sr_benchmark: float = 0.0) -> float:
    """PSR (Bailey & López de Prado 2012) with ŜR, γ3, γ4 estimated from ``returns``.

    ŜR uses ``ddof=1`` (see :func:`sharpe_ratio`); skew and non-excess kurtosis use the
    population (ddof=0) moments. ``sr_benchmark`` must be per-period like the returns.
    """
    r = _as_1d_finite(returns, "returns")
    sr, skew, kurt = _moments(r)
    return probabilistic_sharpe_ratio(sr, sr_benchmark, int(r.size), skew, kurt)


def expected_max_sharpe(n_trials: int, var_sr: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` unskilled trials, Bailey & López de Prado
    (2014), "The Deflated Sharpe Ratio", J. Portfolio Management 40(5), eq. (2) (after Bailey,
    Borwein, López de Prado & Zhu 2014, "Pseudo-Mathematics and Financial Charlatanism"):

        E[max SR] ≈ √V · ( (1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)) )

    with γ the Euler–Mascheroni constant, N = ``n_trials`` and V = ``var_sr`` the variance of
    the trials' (per-period) Sharpe ratios. This is the Sharpe ratio the best of N pure-noise
    strategies is expected to show, i.e. the hurdle a selected strategy must clear. Returns 0 for
    N <= 1 (no selection, no selection bias).
    """
    if isinstance(n_trials, bool) or int(n_trials) != n_trials:
        raise StatsInputError(f"n_trials: rule 'integer' broken, got {n_trials!r}")
    if not (math.isfinite(var_sr) and var_sr >= 0.0):
        raise StatsInputError(f"var_sr: rule 'finite and >= 0' broken, got {var_sr!r}")
    n = int(n_trials)
    if n <= 1:
        return 0.0
    g = EULER_MASCHERONI
    q1 = _STD_NORMAL.inv_cdf(1.0 - 1.0 / n)
    q2 = _STD_NORMAL.inv_cdf(1.0 - 1.0 / (n * math.e))
    return math.sqrt(var_sr) * ((1.0 - g) * q1 + g * q2)


@dataclass(frozen=True)
class DeflatedSharpeResult:
    """Outcome of :func:`deflated_sharpe_ratio` (all Sharpe ratios per period).

    ``dsr`` is PSR against the selection-bias hurdle ``sr_star``; ``psr`` is PSR against 0, kept
    so the ledger shows how much of the confidence the multiple-testing correction removed.
    """

    dsr: float
    psr: float
    sr_hat: float
    sr_star: float
    n_trials: int
    n_obs: int


def deflated_sharpe_ratio(
    returns: ArrayLike,
    n_trials: int,
    trial_sharpes_variance: float,
) -> DeflatedSharpeResult:
    """Deflated Sharpe Ratio, Bailey & López de Prado (2014), "The Deflated Sharpe Ratio:
    Correcting for Selection Bias, Backtest Overfitting and Non-Normality", JPM 40(5):

        DSR = PSR(SR*) with SR* = E[max SR] = expected_max_sharpe(N, V)

    ``returns`` are the selected strategy's per-period returns; ``n_trials`` is the number of
    independent configurations tried during research (N) and ``trial_sharpes_variance`` the
    variance V of their per-period Sharpe ratios. DSR is the probability that the selected
    strategy's true Sharpe ratio beats the best of N unskilled trials.
    """
    if isinstance(n_trials, bool) or int(n_trials) != n_trials or n_trials < 1:
        raise StatsInputError(f"n_trials: rule 'integer >= 1' broken, got {n_trials!r}")
    r = _as_1d_finite(returns, "returns")
    sr, skew, kurt = _moments(r)
    sr_star = expected_max_sharpe(int(n_trials), trial_sharpes_variance)
    n = int(r.size)
    return DeflatedSharpeResult(
        dsr=probabilistic_sharpe_ratio(sr, sr_star, n, skew, kurt),
        psr=probabilistic_sharpe_ratio(sr, 0.0, n, skew, kurt),
        sr_hat=sr,
        sr_star=sr_star,
        n_trials=int(n_trials),
        n_obs=n,
    )


# --------------------------------------------------------------------------------------------
# PBO by CSCV
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PBOResult:
    """Outcome of :func:`probability_of_backtest_overfitting`.

    ``logits`` holds λ_c for every evaluated IS/OOS split, in the order the splits were
    evaluated; ``pbo`` is the share of λ_c <= 0. ``sampled`` is True when the split combinations
    were a seeded subset (see ``max_combinations``) rather than all C(S, S/2).
    """

    pbo: float
    logits: tuple[float, ...]
    n_combinations: int
    n_splits: int
    sampled: bool


def _block_sharpes(sums: np.ndarray, sumsq: np.ndarray, counts: np.ndarray,
                   col_means: np.ndarray) -> np.ndarray:
    """Sharpe (ddof=1) per (split, config) from per-split sums of mean-centred returns."""
    n = counts[:, None]
    mean_c = sums / n
    var = (sumsq - sums * mean_c) / (n - 1.0)
    var = np.maximum(var, 0.0)
    std = np.sqrt(var)
    mean = mean_c + col_means[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = np.where(std > 0.0, mean / std, 0.0)
    return sr


def probability_of_backtest_overfitting(
    returns_matrix: ArrayLike,
    n_splits: int = 16,
    *,
    max_combinations: int = 20_000,
    seed: int = 0,
) -> PBOResult:
    """Probability of Backtest Overfitting by Combinatorially Symmetric Cross-Validation,
    Bailey, Borwein, López de Prado & Zhu (2015), "The Probability of Backtest Overfitting",
    Journal of Computational Finance 20(4).

    ``returns_matrix`` is T periods × N configurations. Algorithm (paper §2.2):

    1. Split the rows into S = ``n_splits`` contiguous blocks (``numpy.array_split``: sizes differ
       by at most one row when S does not divide T; the paper assumes equal sizes).
    2. For every combination c of S/2 blocks: J = those rows (in-sample), J̄ = the rest
       (out-of-sample).
    3. n* = argmax of the per-period Sharpe ratio in J (ties: lowest column index).
    4. ω̄_c = rank of n* among the OOS Sharpe ratios in J̄ divided by (N + 1)
       (rank 1 = worst, N = best, ties share their average rank); the N + 1 keeps ω̄ in (0, 1)
       so the logit is always finite.
    5. λ_c = ln(ω̄_c / (1 − ω̄_c)); PBO = #{λ_c <= 0} / #c.

    PBO is the probability that the configuration picked as best in-sample ranks at or below the
    OOS median: high (≈ 0.5 or more) means selection learned noise, ≈ 0 means the in-sample
    winner keeps winning out of sample.

    All C(S, S/2) combinations are used (12 870 for S = 16). If C(S, S/2) exceeds
    ``max_combinations`` (S >= 20 with the default), ``max_combinations`` distinct combinations
    are drawn uniformly with ``numpy.random.default_rng(seed)`` instead, so the result is still
    deterministic; ``PBOResult.sampled`` records this.

    Raises :class:`StatsInputError` when N < 2, S is odd or < 2, or T < S (each block needs a
    row), or the matrix has non-finite values.
    """
    m = np.asarray(returns_matrix, dtype=np.float64)
    if m.ndim != 2:
        raise StatsInputError(
            f"returns_matrix: rule '2-D (T periods x N configs)' broken, got shape {m.shape}")
    t_rows, n_cfg = m.shape
    if isinstance(n_splits, bool) or int(n_splits) != n_splits or n_splits < 2 or n_splits % 2:
        raise StatsInputError(f"n_splits: rule 'even integer >= 2' broken, got {n_splits!r}")
    s = int(n_splits)
    if n_cfg < 2:
        raise StatsInputError(
            f"returns_matrix: rule 'at least 2 configurations (columns)' broken, got N={n_cfg}")
    if t_rows < s:
        raise StatsInputError(
            f"returns_matrix: rule 'T periods >= n_splits' broken, got T={t_rows}, S={s}")
    if (t_rows // s) * (s // 2) < 2:
        # Only reachable for S == 2 with T in {2, 3}: a half would hold one row, and a
        # one-row Sharpe ratio (ddof=1) is undefined.
        raise StatsInputError(
            f"returns_matrix: rule 'each half holds >= 2 rows' broken, T={t_rows}, S={s}")
    bad = np.argwhere(~np.isfinite(m))
    if bad.size:
        raise StatsInputError(
            "returns_matrix: rule 'finite values' broken at (row, col) "
            f"{[tuple(map(int, x)) for x in bad[:10]]}")
    if max_combinations < 1:
        raise StatsInputError(
            f"max_combinations: rule '>= 1' broken, got {max_combinations!r}")

    col_means = m.mean(axis=0)
    centered = m - col_means[None, :]
    blocks = np.array_split(np.arange(t_rows), s)
    block_sum = np.stack([centered[b].sum(axis=0) for b in blocks])  # S x N
    block_sumsq = np.stack([(centered[b] ** 2).sum(axis=0) for b in blocks])
    block_n = np.array([b.size for b in blocks], dtype=np.float64)

    half = s // 2
    total = math.comb(s, half)
    sampled = total > max_combinations
    if not sampled:
        combos = np.array(list(combinations(range(s), half)), dtype=np.int64)
    else:
        rng = np.random.default_rng(seed)
        seen: set[tuple[int, ...]] = set()
        picked: list[tuple[int, ...]] = []
        while len(picked) < max_combinations:
            c = tuple(sorted(rng.choice(s, size=half, replace=False).tolist()))
            if c not in seen:
                seen.add(c)
                picked.append(c)
        combos = np.array(picked, dtype=np.int64)
    mask = np.zeros((combos.shape[0], s), dtype=np.float64)
    np.put_along_axis(mask, combos, 1.0, axis=1)

    tot_sum = block_sum.sum(axis=0)
    tot_sumsq = block_sumsq.sum(axis=0)
    tot_n = block_n.sum()
    logits = np.empty(combos.shape[0], dtype=np.float64)
    chunk = max(1, 2_000_000 // max(n_cfg, 1))
    for start in range(0, combos.shape[0], chunk):
        mk = mask[start:start + chunk]
        is_sum = mk @ block_sum
        is_sumsq = mk @ block_sumsq
        is_n = mk @ block_n
        sr_is = _block_sharpes(is_sum, is_sumsq, is_n, col_means)
        sr_oos = _block_sharpes(tot_sum[None, :] - is_sum, tot_sumsq[None, :] - is_sumsq,
                                tot_n - is_n, col_means)
        best = np.argmax(sr_is, axis=1)
        best_oos = sr_oos[np.arange(best.size), best][:, None]
        below = (sr_oos < best_oos).sum(axis=1)
        ties = (sr_oos == best_oos).sum(axis=1)  # includes n* itself
        rank = below + (ties + 1) / 2.0  # average rank, 1 = worst
        omega = rank / (n_cfg + 1.0)
        logits[start:start + chunk] = np.log(omega / (1.0 - omega))
    pbo = float(np.mean(logits <= 0.0))
    return PBOResult(pbo=pbo, logits=tuple(float(x) for x in logits),
                     n_combinations=int(combos.shape[0]), n_splits=s, sampled=sampled)


# --------------------------------------------------------------------------------------------
# Student t distribution (no scipy)
# --------------------------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the regularized incomplete beta (modified Lentz; Press et al.,
    Numerical Recipes 3rd ed. §6.4, and DLMF 8.17.22)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = tiny if abs(d) < tiny else d
    d = 1.0 / d
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, "
                          f"x={x})")  # pragma: no cover - converges for all a, b > 0


def _reg_inc_beta(a: float, b: float, x: float, one_minus_x: float) -> float:
    """I_x(a, b); ``one_minus_x`` is passed separately so 1 − x keeps full precision."""
    if x <= 0.0:
        return 0.0
    if one_minus_x <= 0.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log(one_minus_x))
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, one_minus_x) / b


def _t_upper_tail(t: float, df: float) -> float:
    """P(T > t) for t >= 0: ½ · I_{df/(df+t²)}(df/2, ½) (Abramowitz & Stegun 26.7.1)."""
    t2 = t * t
    denom = df + t2
    return 0.5 * _reg_inc_beta(df / 2.0, 0.5, df / denom, t2 / denom)


def student_t_cdf(t: float, df: float) -> float:
    """CDF of Student's t with ``df`` > 0 degrees of freedom, via the regularized incomplete
    beta function (A&S 26.7.1): F(t) = 1 − ½ I_{ν/(ν+t²)}(ν/2, ½) for t >= 0, symmetric below."""
    if not (df > 0.0):
        raise StatsInputError(f"df: rule 'df > 0' broken, got {df!r}")
    if math.isinf(df):
        return _STD_NORMAL.cdf(t)
    tail = _t_upper_tail(abs(t), df)
    return 1.0 - tail if t >= 0 else tail


def student_t_ppf(p: float, df: float) -> float:
    """Quantile t_{p, ν} of Student's t with ν = ``df`` > 0 degrees of freedom.

    Inverts :func:`student_t_cdf` by bisection on t (the upper tail is monotone), bracketing by
    doubling; the tail probability itself comes from the incomplete-beta continued fraction, so
    accuracy is ~1e-12 relative, far below the 1e-5 the tests demand against printed tables.
    ``df = inf`` gives the normal quantile.
    """
    _check_probability(p, "p")
    if not (df > 0.0):
        raise StatsInputError(f"df: rule 'df > 0' broken, got {df!r}")
    if math.isinf(df):
        return _STD_NORMAL.inv_cdf(p)
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -student_t_ppf(1.0 - p, df)
    q = 1.0 - p  # target upper-tail probability
    lo, hi = 0.0, 1.0
    while _t_upper_tail(hi, df) > q:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _t_upper_tail(mid, df) > q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------------------------
# Confidence lower bounds for the mean
# --------------------------------------------------------------------------------------------


def mean_return_confidence_lower_bound(
    daily_returns: ArrayLike,
    level: float = 0.95,
    method: Literal["t", "bootstrap"] = "t",
    *,
    n_boot: int = 10_000,
    seed: int = 0,
) -> float:
    """One-sided lower confidence bound for the mean return at a **fixed** sample size.

    ``method="t"`` (Student 1908; Gosset): ``mean − t_{level, n−1} · s / √n`` with s the ddof=1
    standard deviation. Exact for iid normal returns, asymptotically right otherwise.

    ``method="bootstrap"`` (Efron 1979; percentile method, Efron & Tibshirani 1993 ch. 13): draw
    ``n_boot`` resamples of size n with replacement using ``numpy.random.default_rng(seed)``,
    return the (1 − level) quantile (numpy's default linear interpolation) of the resample means.
    Makes no normality assumption but treats returns as iid (no block structure), and is
    deterministic for a given seed.

    This bound is valid for ONE look at a pre-set n. Re-computing it after every new run and
    stopping the first time it clears a threshold inflates the false-positive rate; use
    :func:`anytime_valid_mean_lower_bound` for that.
    """
    r = _as_1d_finite(daily_returns, "daily_returns")
    _check_probability(level, "level")
    n = int(r.size)
    if n < 2:
        raise StatsInputError(f"daily_returns: rule 'at least 2 observations' broken, got {n}")
    mean = float(np.mean(r))
    if method == "t":
        s = float(np.std(r, ddof=1))
        return mean - student_t_ppf(level, n - 1) * s / math.sqrt(n)
    if method == "bootstrap":
        if n_boot < 1:
            raise StatsInputError(f"n_boot: rule '>= 1' broken, got {n_boot!r}")
        rng = np.random.default_rng(seed)
        means = np.empty(n_boot, dtype=np.float64)
        chunk = max(1, 4_000_000 // n)
        for start in range(0, n_boot, chunk):
            k = min(chunk, n_boot - start)
            idx = rng.integers(0, n, size=(k, n))
            means[start:start + k] = r[idx].mean(axis=1)
        return float(np.quantile(means, 1.0 - level))
    raise StatsInputError(f"method: rule \"one of 't', 'bootstrap'\" broken, got {method!r}")


def normal_mixture_rho(v_opt: float, alpha: float) -> float:
    """Mixture precision ρ that makes :func:`normal_mixture_boundary` (approximately) tightest
    at intrinsic time ``v_opt`` (Howard, Ramdas, McAuliffe & Sekhon 2021, §3.5 tuning rule,
    with the one-sided α):

        ρ = v_opt / (2 ln(1/(2α)) + ln(1 + 2 ln(1/(2α))))

    Any ρ > 0 gives a valid boundary; ρ only moves where the boundary is tightest.
    """
    _check_probability(alpha, "alpha")
    if not (v_opt > 0.0 and math.isfinite(v_opt)):
        raise StatsInputError(f"v_opt: rule 'finite and > 0' broken, got {v_opt!r}")
    ell = 2.0 * math.log(1.0 / (2.0 * alpha)) if alpha < 0.5 else 0.0
    return v_opt / (ell + math.log1p(ell)) if ell > 0.0 else v_opt


def normal_mixture_boundary(v: ArrayLike, alpha: float, rho: float) -> np.ndarray:
    """One-sided normal-mixture uniform boundary u_α(v) for 1-sub-Gaussian-scaled sums
    (Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon 2021, "Time-uniform, nonparametric,
    nonasymptotic confidence sequences", Ann. Statist. 49(2), one-sided normal mixture):

        u_α(v) = √( 2 (v + ρ) · ln( √((v + ρ)/ρ) / (2α) + 1 ) )

    Guarantee: if S_t is a sum of mean-zero σ-sub-Gaussian increments and V_t = σ² t, then
    P(∃ t >= 1: S_t >= u_α(V_t)) <= α.

    Why (self-contained): M_t = ∫_0^∞ exp(λ S_t − λ² V_t / 2) · 2 φ_ρ(λ) dλ, mixing over a
    half-normal with precision ρ, is a nonnegative supermartingale with M_0 = 1, and
    M_t = (2/A) e^{z²/2} Φ(z) with A = √((V+ρ)/ρ), z = S_t/√(V+ρ). At S_t = u_α(V) we have
    e^{z²/2} = A/(2α) + 1, so M_t = (1/α + 2/A) Φ(z) >= 1/α by the Mills-ratio bound
    1 − Φ(z) <= φ(z)/z (z >= √(2 ln(1/(2α)+1)) > 1/√(2π)). Ville's inequality
    P(∃t: M_t >= 1/α) <= α finishes the proof.
    """
    _check_probability(alpha, "alpha")
    if not (rho > 0.0 and math.isfinite(rho)):
        raise StatsInputError(f"rho: rule 'finite and > 0' broken, got {rho!r}")
    vv = np.asarray(v, dtype=np.float64)
    if np.any(vv < 0.0) or not np.all(np.isfinite(vv)):
        raise StatsInputError("v: rule 'finite and >= 0' broken")
    vr = vv + rho
    return np.sqrt(2.0 * vr * np.log(np.sqrt(vr / rho) / (2.0 * alpha) + 1.0))


def _resolve_sigma(x: np.ndarray, sigma_bound: float | None,
                   value_range: tuple[float, float] | None) -> float:
    if (sigma_bound is None) == (value_range is None):
        raise StatsInputError(
            "sigma_bound/value_range: rule 'exactly one of them is given' broken")
    if sigma_bound is not None:
        if not (sigma_bound > 0.0 and math.isfinite(sigma_bound)):
            raise StatsInputError(
                f"sigma_bound: rule 'finite and > 0' broken, got {sigma_bound!r}")
        return float(sigma_bound)
    assert value_range is not None
    lo, hi = float(value_range[0]), float(value_range[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise StatsInputError(f"value_range: rule 'finite low < high' broken, got {value_range!r}")
    outside = np.flatnonzero((x < lo) | (x > hi))
    if outside.size:
        raise StatsInputError(
            f"x: rule 'inside value_range [{lo}, {hi}]' broken at positions "
            f"{outside[:10].tolist()}")
    # Hoeffding's lemma: a variable in [lo, hi] is ((hi - lo)/2)-sub-Gaussian.
    return (hi - lo) / 2.0


def anytime_valid_lower_bound_path(
    x: ArrayLike,
    alpha: float = 0.05,
    *,
    sigma_bound: float | None = None,
    value_range: tuple[float, float] | None = None,
    optimize_at: int = 50,
) -> np.ndarray:
    """Anytime-valid lower confidence bounds L_1, …, L_n for the common mean μ of ``x``.

    L_t = x̄_t − u_α(σ² t) / t with u_α the one-sided normal-mixture boundary
    (:func:`normal_mixture_boundary`; Howard et al. 2021) and ρ tuned by
    :func:`normal_mixture_rho` to be tightest after ``optimize_at`` observations.

    Guarantee: if the observations are independent (or a martingale-difference sequence around
    μ) and each is σ-sub-Gaussian, then P(∃ t: L_t > μ) <= α — simultaneously over **all** t.
    So a canary may look after every run and stop the first time L_t clears a threshold without
    inflating its false-positive rate, unlike a fixed-n normal/t interval re-checked each run
    (which the origin system did, and which crosses under the null far more often than α).
    The running maximum of the path is also a valid lower bound.

    σ comes from exactly one of: ``sigma_bound`` (a sub-Gaussian scale you can justify, e.g. a
    conservative multiple of backtest per-run PnL volatility; a Gaussian N(μ, s²) is
    s-sub-Gaussian) or ``value_range=(low, high)`` for bounded observations (Hoeffding:
    σ = (high − low)/2; values outside the range are refused). If σ is under-stated the
    guarantee is void, so prefer a conservative value.
    """
    arr = _as_1d_finite(x, "x")
    _check_probability(alpha, "alpha")
    if arr.size == 0:
        raise StatsInputError("x: rule 'at least 1 observation' broken")
    if optimize_at < 1:
        raise StatsInputError(f"optimize_at: rule '>= 1' broken, got {optimize_at!r}")
    sigma = _resolve_sigma(arr, sigma_bound, value_range)
    t = np.arange(1, arr.size + 1, dtype=np.float64)
    rho = normal_mixture_rho(sigma**2 * optimize_at, alpha)
    return np.cumsum(arr) / t - normal_mixture_boundary(sigma**2 * t, alpha, rho) / t


def anytime_valid_mean_lower_bound(
    x: ArrayLike,
    alpha: float = 0.05,
    *,
    sigma_bound: float | None = None,
    value_range: tuple[float, float] | None = None,
    optimize_at: int = 50,
) -> float:
    """Anytime-valid lower bound for the mean after all of ``x`` has been seen: the last value
    of :func:`anytime_valid_lower_bound_path` (see there for the guarantee and assumptions).

    Returns the bound at the current time, not the running maximum, so the value is a pure
    function of the current sample and re-derivable from it; the running maximum is also valid
    if a caller wants the tighter monotone version.
    """
    path = anytime_valid_lower_bound_path(x, alpha, sigma_bound=sigma_bound,
                                          value_range=value_range, optimize_at=optimize_at)
    return float(path[-1])

