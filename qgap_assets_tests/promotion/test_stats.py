"""Tests for qgap_assets.promotion.stats.

Hand-computed values re-derive each formula with explicit numbers; Monte-Carlo checks are
seeded and sized so the whole file stays a few seconds. Tolerances on Monte-Carlo estimates are
stated as multiples of the estimate's standard error.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qgap_assets.errors import InputValidationError
from qgap_assets.promotion.stats import (
    EULER_MASCHERONI,
    DeflatedSharpeResult,
    StatsInputError,
    anytime_valid_lower_bound_path,
    anytime_valid_mean_lower_bound,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    mean_return_confidence_lower_bound,
    normal_mixture_boundary,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    psr_from_returns,
    sharpe_ratio,
    student_t_cdf,
    student_t_ppf,
)

PHI = NormalDist().cdf
PHI_INV = NormalDist().inv_cdf


def two_point_returns(mu: float, d: float, n: int) -> np.ndarray:
    """mu+d, mu-d alternating: mean mu, population skew 0, population (non-excess) kurtosis 1,
    sample std (ddof=1) d*sqrt(n/(n-1)) -- every moment is known in closed form."""
    return np.array([mu + d if i % 2 == 0 else mu - d for i in range(n)])


# ------------------------------------------------------------------ Sharpe


def test_sharpe_ratio_hand_value_and_degenerate_cases() -> None:
    r = [0.01, 0.03, -0.01, 0.05]
    mean = (0.01 + 0.03 - 0.01 + 0.05) / 4  # 0.02
    var = ((-0.01) ** 2 + 0.01**2 + (-0.03) ** 2 + 0.03**2) / 3  # ddof=1
    assert sharpe_ratio(r) == pytest.approx(mean / math.sqrt(var), rel=1e-12)
    assert sharpe_ratio([]) == 0.0
    assert sharpe_ratio([0.5]) == 0.0
    assert sharpe_ratio([0.01, 0.01, 0.01]) == 0.0


def test_non_finite_returns_are_refused_naming_position() -> None:
    with pytest.raises(StatsInputError, match=r"finite values.*\[2\]"):
        sharpe_ratio([0.1, 0.2, float("nan")])
    # The error is both the project's input error (exit 2) and a ValueError.
    with pytest.raises(InputValidationError):
        sharpe_ratio([float("inf"), 0.0])
    with pytest.raises(ValueError):
        sharpe_ratio([[0.1, 0.2]])


# ------------------------------------------------------------------ PSR


def test_psr_hand_value_normal_returns() -> None:
    # sr=0.1, benchmark 0, n=250, skew 0, kurtosis 3 (normal):
    # denominator sqrt(1 - 0*0.1 + (3-1)/4 * 0.1^2) = sqrt(1.005) = 1.0024969
    # z = 0.1 * sqrt(249) / 1.0024969 = 0.1 * 15.7797338 / 1.0024969 = 1.5740432
    # Phi(1.5740432) = 0.942261
    z = 0.1 * math.sqrt(249) / math.sqrt(1.005)
    assert z == pytest.approx(1.5740432, abs=1e-6)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 250, 0.0, 3.0) == pytest.approx(PHI(z), abs=1e-12)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 250, 0.0, 3.0) == pytest.approx(0.942261, abs=1e-6)


def test_psr_hand_value_skewed_fat_tailed_returns() -> None:
    # sr=0.08, benchmark 0.02, n=500, skew -0.5, kurtosis 6:
    # var term 1 - (-0.5)(0.08) + (6-1)/4 * 0.08^2 = 1 + 0.04 + 0.008 = 1.048
    # z = 0.06 * sqrt(499) / sqrt(1.048) = 0.06 * 22.3383079 / 1.0237187 = 1.3092449
    z = (0.08 - 0.02) * math.sqrt(499) / math.sqrt(1.048)
    assert z == pytest.approx(1.3092449, abs=1e-6)
    got = probabilistic_sharpe_ratio(0.08, 0.02, 500, -0.5, 6.0)
    assert got == pytest.approx(PHI(z), abs=1e-12)
    # Negative skew / fat tails must lower confidence versus normal returns.
    assert got < probabilistic_sharpe_ratio(0.08, 0.02, 500, 0.0, 3.0)


def test_psr_at_benchmark_is_one_half_and_input_rules() -> None:
    assert probabilistic_sharpe_ratio(0.05, 0.05, 100, 0.3, 4.0) == pytest.approx(0.5)
    with pytest.raises(StatsInputError, match="n_obs"):
        probabilistic_sharpe_ratio(0.1, 0.0, 1, 0.0, 3.0)
    with pytest.raises(StatsInputError, match="variance term"):
        probabilistic_sharpe_ratio(2.0, 0.0, 100, 5.0, 3.0)  # 1 - 10 + 2 < 0


def test_psr_from_returns_uses_population_moments() -> None:
    mu, d, n = 0.01, 0.1, 250
    r = two_point_returns(mu, d, n)
    sr = mu / (d * math.sqrt(n / (n - 1)))  # 0.0997998
    # skew 0, kurtosis 1 -> var term 1 + (1-1)/4 sr^2 = 1
    expected = PHI(sr * math.sqrt(n - 1))
    assert psr_from_returns(r) == pytest.approx(expected, abs=1e-10)
    # Constant series (a config that never traded): SR 0 with normal moments -> PSR 0.5, and
    # the deflated version is below 0.5 -- no exception that would abort a gate run.
    assert psr_from_returns([0.01] * 10) == 0.5
    flat = deflated_sharpe_ratio([0.0] * 10, 5, 0.01)
    assert flat.sr_hat == 0.0 and flat.psr == 0.5 and flat.dsr < 0.5
    with pytest.raises(StatsInputError, match="at least 2 observations"):
        psr_from_returns([0.01])


def test_psr_is_calibrated_under_the_null_monte_carlo() -> None:
    # iid normal returns whose true per-period SR equals the benchmark: PSR ~ Uniform(0,1).
    rng = np.random.default_rng(20240611)
    true_sr, n_obs, reps = 0.1, 500, 2000
    samples = rng.normal(loc=true_sr, scale=1.0, size=(reps, n_obs))
    psr = np.array([psr_from_returns(row, sr_benchmark=true_sr) for row in samples])
    se_mean = math.sqrt(1 / 12 / reps)  # sd of U(0,1) is sqrt(1/12)
    assert abs(psr.mean() - 0.5) < 4 * se_mean
    se_tail = math.sqrt(0.05 * 0.95 / reps)
    assert abs(np.mean(psr > 0.95) - 0.05) < 4 * se_tail


# ------------------------------------------------------------------ E[max SR] and DSR


def test_expected_max_sharpe_hand_value() -> None:
    # N=100, V=0.0025 (sd of trial SRs 0.05):
    # Phi^-1(1 - 1/100) = 2.3263479, Phi^-1(1 - 1/(100e)) = Phi^-1(0.9963212) = 2.6802104
    q1 = PHI_INV(1 - 1 / 100)
    q2 = PHI_INV(1 - 1 / (100 * math.e))
    assert q1 == pytest.approx(2.3263479, abs=1e-6)
    assert q2 == pytest.approx(2.6802104, abs=1e-6)
    hand = 0.05 * ((1 - 0.5772156649) * 2.3263479 + 0.5772156649 * 2.6802104)  # = 0.1265365
    assert expected_max_sharpe(100, 0.0025) == pytest.approx(hand, rel=1e-6)
    assert EULER_MASCHERONI == pytest.approx(0.5772156649015329)
    assert expected_max_sharpe(1, 0.3) == 0.0
    assert expected_max_sharpe(0, 0.3) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0


@pytest.mark.parametrize("n_trials", [10, 100, 1000])
def test_expected_max_sharpe_matches_monte_carlo_max_of_normals(n_trials: int) -> None:
    rng = np.random.default_rng(7 + n_trials)
    reps = 2000
    sd = 0.3
    maxima = rng.normal(0.0, sd, size=(reps, n_trials)).max(axis=1)
    mc = maxima.mean()
    se = maxima.std(ddof=1) / math.sqrt(reps)
    approx = expected_max_sharpe(n_trials, sd**2)
    # The closed form is an asymptotic approximation: within 4% plus MC noise.
    assert abs(approx - mc) < 0.04 * mc + 4 * se


def test_deflated_sharpe_ratio_hand_value() -> None:
    mu, d, n = 0.01, 0.1, 250
    r = two_point_returns(mu, d, n)
    sr_hat = mu / (d * math.sqrt(n / (n - 1)))  # = 0.0997998
    n_trials, var = 20, 0.002
    sr_star = math.sqrt(var) * ((1 - EULER_MASCHERONI) * PHI_INV(1 - 1 / 20)
                                + EULER_MASCHERONI * PHI_INV(1 - 1 / (20 * math.e)))
    # sqrt(0.002)=0.0447214; Phi^-1(0.95)=1.6448536; Phi^-1(1-1/(20e))=Phi^-1(0.9816060)=2.0881097
    assert sr_star == pytest.approx(0.0447214 * (0.4227843 * 1.6448536 + 0.5772157 * 2.0881097),
                                    rel=1e-6)
    # skew 0 and kurtosis 1 make the variance term 1 + 0 = 1.
    dsr_hand = PHI((sr_hat - sr_star) * math.sqrt(n - 1))
    res = deflated_sharpe_ratio(r, n_trials, var)
    assert isinstance(res, DeflatedSharpeResult)
    assert res.sr_hat == pytest.approx(sr_hat, rel=1e-12)
    assert res.sr_star == pytest.approx(sr_star, rel=1e-12)
    assert res.dsr == pytest.approx(dsr_hand, abs=1e-10)
    assert res.psr == pytest.approx(PHI(sr_hat * math.sqrt(n - 1)), abs=1e-10)
    assert (res.n_trials, res.n_obs) == (20, 250)
    assert res.dsr < res.psr
    # One trial: no deflation.
    single = deflated_sharpe_ratio(r, 1, var)
    assert single.dsr == pytest.approx(single.psr)
    with pytest.raises(StatsInputError, match="n_trials"):
        deflated_sharpe_ratio(r, 0, var)
    with pytest.raises(StatsInputError, match="var_sr"):
        deflated_sharpe_ratio(r, 5, -1.0)


# ------------------------------------------------------------------ PBO


def test_pbo_is_high_for_pure_noise_configs() -> None:
    # One noise matrix's PBO has a wide sampling spread (its 12 870 splits share the same data;
    # single draws range ~0.2-0.7), so average over 30 seeded matrices: E[PBO] is ~0.5 for noise.
    pbos = []
    for seed in range(30):
        m = np.random.default_rng(1000 + seed).normal(size=(320, 20))
        res = probability_of_backtest_overfitting(m, n_splits=16)
        assert res.n_combinations == math.comb(16, 8) == len(res.logits)
        assert not res.sampled
        pbos.append(res.pbo)
    assert float(np.mean(pbos)) > 0.4


def test_pbo_is_near_zero_when_one_config_has_a_real_edge() -> None:
    rng = np.random.default_rng(12)
    m = rng.normal(size=(800, 40))
    m[:, 17] += 0.3
    res = probability_of_backtest_overfitting(m, n_splits=16)
    assert res.pbo < 0.05
    # Rank convention rank/(N+1): the best logit is ln(40/1) = ln(N) -- finite.
    assert max(res.logits) == pytest.approx(math.log(40.0))


def test_pbo_hand_computed_small_case() -> None:
    # T=4, N=2, S=2: blocks {0,1} and {2,3}; combos: IS={block0}, IS={block1}.
    m = np.array([[0.02, 0.00], [0.04, 0.01],  # block 0: col0 SR=0.03/0.01414, col1 SR=.005/.00707
                  [0.00, 0.03], [0.01, 0.05]])  # block 1: col1 wins
    # combo IS=block0: SR col0 = 0.03/sqrt(0.0002)=2.121 > col1 = 0.005/sqrt(0.00005)=0.707 -> n*=0
    #   OOS block1: col0 SR = 0.005/0.00707 = 0.707 < col1 = 0.04/0.01414 = 2.83 -> rank 1
    #   omega = 1/3, logit ln(0.5) < 0
    # combo IS=block1: n*=1; OOS block0: col1 0.707 < col0 2.121 -> rank 1 -> logit ln(0.5)
    res = probability_of_backtest_overfitting(m, n_splits=2)
    assert res.n_combinations == 2
    assert res.logits == pytest.approx((math.log(0.5), math.log(0.5)))
    assert res.pbo == 1.0


def test_pbo_caps_combinations_deterministically() -> None:
    rng = np.random.default_rng(3)
    m = rng.normal(size=(200, 5))
    a = probability_of_backtest_overfitting(m, n_splits=20, max_combinations=500, seed=9)
    b = probability_of_backtest_overfitting(m, n_splits=20, max_combinations=500, seed=9)
    assert a.sampled and a.n_combinations == 500
    assert a == b


@pytest.mark.parametrize(
    ("shape", "splits", "match"),
    [((100, 1), 16, "at least 2 configurations"),
     ((10, 5), 16, "T periods >= n_splits"),
     ((100, 5), 15, "even integer"),
     ((3, 5), 2, "each half holds >= 2 rows")],
)
def test_pbo_degenerate_inputs_raise_value_error(shape: tuple[int, int], splits: int,
                                                 match: str) -> None:
    with pytest.raises(ValueError, match=match):
        probability_of_backtest_overfitting(np.zeros(shape), n_splits=splits)


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(8, 40), st.integers(2, 6)),
              elements=st.floats(-1.0, 1.0, allow_nan=False)))
def test_pbo_is_a_probability(m: np.ndarray) -> None:
    res = probability_of_backtest_overfitting(m, n_splits=4)
    assert 0.0 <= res.pbo <= 1.0
    assert all(math.isfinite(x) for x in res.logits)


# ------------------------------------------------------------------ Student t


@pytest.mark.parametrize(
    ("p", "df", "table"),
    [(0.95, 4, 2.131847), (0.95, 9, 1.833113), (0.975, 29, 2.045230), (0.95, 120, 1.657651),
     (0.99, 10, 2.763769), (0.995, 3, 5.840909)],
)
def test_student_t_quantile_matches_tables(p: float, df: int, table: float) -> None:
    assert student_t_ppf(p, df) == pytest.approx(table, abs=1e-5)
    assert student_t_ppf(1 - p, df) == pytest.approx(-table, abs=1e-5)
    assert student_t_cdf(student_t_ppf(p, df), df) == pytest.approx(p, abs=1e-12)


def test_student_t_quantile_closed_forms() -> None:
    # df=1 is Cauchy: t_p = tan(pi (p - 1/2)); df=2: t_p = (2p-1)/sqrt(2p(1-p)).
    for p in (0.6, 0.9, 0.999):
        assert student_t_ppf(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-10)
        assert student_t_ppf(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)),
                                                    rel=1e-10)
    assert student_t_ppf(0.95, 1e7) == pytest.approx(PHI_INV(0.95), abs=1e-6)
    assert student_t_ppf(0.95, math.inf) == PHI_INV(0.95)
    assert student_t_ppf(0.5, 7) == 0.0


# ------------------------------------------------------------------ fixed-n lower bounds


def test_t_lower_bound_hand_value() -> None:
    r = [0.01, 0.03, -0.01, 0.05, 0.02]
    mean = 0.02
    s = math.sqrt((0.01**2 + 0.01**2 + 0.03**2 + 0.03**2 + 0) / 4)  # 0.0223607
    hand = mean - 2.131847 * s / math.sqrt(5)  # t_{0.95,4}
    assert mean_return_confidence_lower_bound(r, 0.95) == pytest.approx(hand, abs=1e-7)


def test_bootstrap_lower_bound_is_seeded_and_close_to_t_for_normal_data() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(0.001, 0.01, size=500)
    a = mean_return_confidence_lower_bound(r, 0.95, method="bootstrap", n_boot=4000, seed=1)
    b = mean_return_confidence_lower_bound(r, 0.95, method="bootstrap", n_boot=4000, seed=1)
    assert a == b
    t_lb = mean_return_confidence_lower_bound(r, 0.95, method="t")
    se = r.std(ddof=1) / math.sqrt(r.size)
    assert abs(a - t_lb) < 0.15 * se
    with pytest.raises(StatsInputError, match="method"):
        mean_return_confidence_lower_bound(r, method="normal")  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(2, 60), elements=st.floats(-0.2, 0.2, allow_nan=False)),
       st.sampled_from([0.8, 0.95, 0.99]))
def test_lower_bounds_never_exceed_the_sample_mean(r: np.ndarray, level: float) -> None:
    mean = float(np.mean(r))
    slack = 1e-12
    assert mean_return_confidence_lower_bound(r, level) <= mean + slack
    assert mean_return_confidence_lower_bound(r, level, method="bootstrap", n_boot=200) \
        <= float(np.max(r)) + slack
    assert anytime_valid_mean_lower_bound(r, 1 - level, value_range=(-0.2, 0.2)) <= mean + slack


# ------------------------------------------------------------------ anytime-valid bound


def test_normal_mixture_boundary_makes_the_mixture_martingale_reach_one_over_alpha() -> None:
    # Deterministic check of the docstring's proof: at S = u(v) the half-normal mixture
    # M = (2/A) exp(z^2/2) Phi(z) is >= 1/alpha, so Ville's inequality applies.
    for alpha in (0.01, 0.05, 0.2):
        for rho in (0.1, 5.0, 300.0):
            for v in (0.0, 1.0, 50.0, 1e5):
                u = float(normal_mixture_boundary(v, alpha, rho))
                a = math.sqrt((v + rho) / rho)
                z = u / math.sqrt(v + rho)
                assert 2 / a * math.exp(z * z / 2) * PHI(z) >= (1 / alpha) * (1 - 1e-12)


def test_anytime_valid_bound_controls_crossing_over_200_looks_under_the_null() -> None:
    rng = np.random.default_rng(424242)
    alpha, looks, reps = 0.05, 200, 3000
    x = rng.normal(0.0, 1.0, size=(reps, looks))
    ever = np.array([anytime_valid_lower_bound_path(row, alpha, sigma_bound=1.0).max() > 0.0
                     for row in x])
    se = math.sqrt(alpha * (1 - alpha) / reps)
    assert ever.mean() <= alpha + 3 * se
    # Why it matters: re-checking a fixed-n normal lower bound after each look crosses far
    # more often than alpha (the origin system's canary did this).
    t = np.arange(1, looks + 1)
    naive = (np.cumsum(x, axis=1) / t - PHI_INV(1 - alpha) / np.sqrt(t) > 0.0).any(axis=1)
    assert naive.mean() > 3 * alpha


def test_anytime_valid_bound_for_bounded_observations_under_the_null() -> None:
    rng = np.random.default_rng(77)
    alpha, looks, reps = 0.1, 200, 2000
    x = rng.choice([-1.0, 1.0], size=(reps, looks))  # mean 0, range [-1, 1]
    ever = np.array([anytime_valid_lower_bound_path(row, alpha, value_range=(-1.0, 1.0)).max()
                     > 0.0 for row in x])
    assert ever.mean() <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / reps)


def test_anytime_valid_bound_detects_a_real_edge_and_validates_inputs() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(0.5, 1.0, size=200)
    assert anytime_valid_mean_lower_bound(x, 0.05, sigma_bound=1.0) > 0.0
    path = anytime_valid_lower_bound_path(x, 0.05, sigma_bound=1.0)
    assert path.shape == (200,)
    assert anytime_valid_mean_lower_bound(x, 0.05, sigma_bound=1.0) == path[-1]
    with pytest.raises(StatsInputError, match="exactly one"):
        anytime_valid_mean_lower_bound(x, 0.05)
    with pytest.raises(StatsInputError, match="exactly one"):
        anytime_valid_mean_lower_bound(x, 0.05, sigma_bound=1.0, value_range=(-5.0, 5.0))
    with pytest.raises(StatsInputError, match="inside value_range"):
        anytime_valid_mean_lower_bound([0.1, 2.0], 0.05, value_range=(-1.0, 1.0))
    with pytest.raises(StatsInputError, match="alpha"):
        anytime_valid_mean_lower_bound(x, 1.5, sigma_bound=1.0)
