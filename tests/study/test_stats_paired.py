"""Paired summaries and the Bayesian correlated t-test against scipy, baycomp and hand-computed values."""

import itertools

import baycomp
import numpy as np
import pytest
from scipy import stats

from medattn.errors import ConfigError
from medattn.study.stats import (
    correlated_t_test,
    hedges_g_paired,
    mean_difference_ci,
    posterior_of_difference,
    probability_of_outperforming,
    welch_p,
    wilcoxon_p,
    wins,
)

RESAMPLES = 2000


@pytest.fixture
def runs():
    rng = np.random.default_rng(7)
    b = rng.normal(0.80, 0.02, 10)
    return b + 0.01 + rng.normal(0.0, 0.01, 10), b


# --- BCa interval of the mean difference -------------------------------------------------------------------------


def test_bca_interval_equals_scipy_paired_bootstrap(runs):
    a, b = runs
    got = mean_difference_ci(a, b, n_bootstrap=RESAMPLES, seed=3)
    want = stats.bootstrap(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        paired=True,
        vectorized=True,
        method="BCa",
        n_resamples=RESAMPLES,
        rng=np.random.default_rng(3),
    ).confidence_interval
    assert got.estimate == pytest.approx(np.mean(a - b))
    assert (got.ci_low, got.ci_high) == pytest.approx((want.low, want.high), rel=1e-12)
    assert got.ci_low < got.estimate < got.ci_high
    assert got.notes == ()


def test_bca_resamples_pairs_not_arms(runs):
    # Resampling pairs is the one-sample bootstrap of the differences, draw for draw.
    a, b = runs
    got = mean_difference_ci(a, b, n_bootstrap=RESAMPLES, seed=5)
    want = stats.bootstrap((a - b,), np.mean, method="BCa", n_resamples=RESAMPLES, rng=np.random.default_rng(5))
    assert (got.ci_low, got.ci_high) == pytest.approx(tuple(want.confidence_interval), rel=1e-12)


def test_bca_is_seeded(runs):
    a, b = runs
    first, again = (mean_difference_ci(a, b, n_bootstrap=RESAMPLES, seed=1) for _ in range(2))
    other = mean_difference_ci(a, b, n_bootstrap=RESAMPLES, seed=2)
    assert first == again
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)


def test_bca_degenerate_cases():
    b = np.array([0.70, 0.75, 0.80, 0.72])
    constant = mean_difference_ci(b + 0.05, b, n_bootstrap=RESAMPLES)
    assert constant.ci_low == constant.ci_high == pytest.approx(0.05)
    assert "all 4 differences equal" in constant.notes[0]
    two = mean_difference_ci(np.array([0.8, 0.9]), np.array([0.7, 0.9]), n_bootstrap=RESAMPLES)
    assert two.estimate == pytest.approx(0.05)
    assert two.ci_low is None and two.ci_high is None
    assert "needs 3" in two.notes[0]


# --- P(A > B) ----------------------------------------------------------------------------------------------------


def test_probability_of_outperforming_by_hand_with_ties():
    a = np.array([0.9, 0.8, 0.7, 0.6])
    b = np.array([0.8, 0.8, 0.75, 0.5])
    np.testing.assert_array_equal(wins(a, b), [1.0, 0.5, 0.0, 1.0])
    assert probability_of_outperforming(a, b, n_bootstrap=RESAMPLES).probability == 2.5 / 4
    # Lower is better: A wins where its score is lower; the tie still counts 1/2.
    np.testing.assert_array_equal(wins(a, b, higher_is_better=False), [0.0, 0.5, 1.0, 0.0])
    assert probability_of_outperforming(a, b, higher_is_better=False, n_bootstrap=RESAMPLES).probability == 1.5 / 4


def test_probability_interval_equals_scipy_percentile_bootstrap(runs):
    a, b = runs
    got = probability_of_outperforming(a, b, n_bootstrap=RESAMPLES, seed=4)
    want = stats.bootstrap(
        (wins(a, b),), np.mean, method="percentile", n_resamples=RESAMPLES, rng=np.random.default_rng(4)
    ).confidence_interval
    assert (got.ci_low, got.ci_high) == pytest.approx((want.low, want.high))
    assert got.ci_low <= got.probability <= got.ci_high


def _pairs_with_wins(n: int, a_wins: int) -> tuple[np.ndarray, np.ndarray]:
    b = np.linspace(0.7, 0.8, n)
    return b + np.where(np.arange(n) < a_wins, 0.01, -0.01), b


@pytest.mark.parametrize(
    ("n", "a_wins", "a_better", "b_better"),
    [
        (10, 10, True, False),  # every pair: CI collapses to [1, 1]
        (100, 80, True, False),  # significant (CI above 0.5) and meaningful (0.8 > gamma)
        (100, 70, False, False),  # significant but not meaningful: 0.7 < gamma = 0.75
        (10, 6, False, False),  # neither
        (100, 20, False, True),  # B better, symmetrically
    ],
)
def test_bouthillier_decision_rule(n, a_wins, a_better, b_better):
    result = probability_of_outperforming(*_pairs_with_wins(n, a_wins), n_bootstrap=RESAMPLES)
    assert result.probability == a_wins / n
    assert (result.a_better, result.b_better) == (a_better, b_better)
    if a_wins == 70:
        assert result.ci_low > 0.5


def test_probability_of_outperforming_needs_three_pairs():
    result = probability_of_outperforming(np.array([0.9, 0.8]), np.array([0.7, 0.6]), n_bootstrap=RESAMPLES)
    assert result.probability == 1.0
    assert result.ci_low is None and not result.a_better
    assert "no decision" in result.notes[0]


# --- Wilcoxon, Welch, Hedges' g ----------------------------------------------------------------------------------


def test_wilcoxon_and_welch_equal_scipy(runs):
    a, b = runs
    p, notes = wilcoxon_p(a, b)
    assert p == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert notes == ()
    assert welch_p(a, b)[0] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)


def test_wilcoxon_zero_handling():
    a = np.array([0.80, 0.81, 0.82, 0.83])
    b = np.array([0.80, 0.80, 0.80, 0.80])
    p, notes = wilcoxon_p(a, b)
    assert p == pytest.approx(stats.wilcoxon(a[1:] - b[1:]).pvalue)  # the zero difference is discarded
    assert any("1 zero difference" in note for note in notes)
    assert any("cannot reach p < 0.05" in note for note in notes)
    assert wilcoxon_p(b, b)[0] is None


def test_p_a_beats_b_and_wilcoxon_share_one_tie_rule():
    # 0.1 + 0.2 - 0.3 is 5.6e-17: float round-off of equal scores, a tie for both statistics
    b = np.array([0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.4])
    a = np.array([0.1 + 0.2, 0.51, 0.62, 0.73, 0.84, 0.95, 0.46])
    assert a[0] != b[0]
    np.testing.assert_array_equal(wins(a, b), [0.5, 1, 1, 1, 1, 1, 1])
    assert wins(b, a, higher_is_better=False)[0] == 0.5
    assert probability_of_outperforming(a, b, n_bootstrap=RESAMPLES).probability == pytest.approx(6.5 / 7)
    p, notes = wilcoxon_p(a, b)
    assert "1 zero difference(s) discarded" in notes[0]
    assert p == pytest.approx(2 / 2**6)  # six positive differences, exact


def _brute_force_wilcoxon(difference: np.ndarray) -> float:
    """Two-sided p by enumerating all 2**n sign patterns of the non-zero differences (average ranks for ties)."""
    nonzero = difference[difference != 0]
    ranks = stats.rankdata(np.abs(nonzero))
    observed = ranks[nonzero > 0].sum()
    sums = np.array(
        [ranks[np.array(signs, dtype=bool)].sum() for signs in itertools.product((0, 1), repeat=len(ranks))]
    )
    return min(1.0, 2 * min(np.mean(sums <= observed + 1e-9), np.mean(sums >= observed - 1e-9)))


@pytest.mark.parametrize(
    "difference",
    [
        [0, 0, 1, 2, -3, 4, 5, 6, 7, -8, 9, 10, 11, 12, 13, 14],  # zeros: scipy gives 0.0092 (normal approx)
        [0, 1, -1, 2, 3, -4, 5, 6, -7, 8, 2, -2, 9, 10, 0],  # zeros and tied magnitudes
        [0.02, -0.01, 0.03, 0.0, 0.05, 0.04, -0.06, 0.07, 0.01, 0.08, 0.09, 0.0, 0.11, -0.12],
    ],
)
def test_wilcoxon_p_is_exact_with_zeros_and_ties(difference):
    difference = np.array(difference, dtype=float) / 100
    b = np.linspace(0.7, 0.8, len(difference))
    p, _ = wilcoxon_p(b + difference, b)
    assert p == pytest.approx(_brute_force_wilcoxon(np.round(difference, 12)), rel=1e-12)


def test_wilcoxon_p_matches_scipy_exact_without_zeros_or_ties_and_approximates_above_50():
    rng = np.random.default_rng(3)
    difference = rng.permutation(np.arange(1, 21)) * rng.choice([-1, 1], 20) / 1000
    assert wilcoxon_p(difference, np.zeros(20))[0] == pytest.approx(stats.wilcoxon(difference, method="exact").pvalue)
    many = rng.normal(0.01, 0.02, 60)
    p, notes = wilcoxon_p(many, np.zeros(60))
    assert p == pytest.approx(stats.wilcoxon(many, method="approx").pvalue)
    assert any("normal approximation (60 non-zero differences" in note for note in notes)


def test_welch_not_possible_for_two_constant_arms():
    p, notes = welch_p(np.full(5, 0.8), np.full(5, 0.7))
    assert p is None and "zero variance" in notes[0]


def test_hedges_g_paired_by_hand():
    b = np.array([0.70, 0.72, 0.74, 0.76, 0.78])
    a = b + np.array([0.02, 0.04, 0.03, 0.05, 0.01])
    # mean(d) = 0.03, sd(d) = sqrt(0.001 / 4) = 0.0158114, J = 1 - 3 / (4 * 4 - 1) = 0.8.
    g, notes = hedges_g_paired(a, b)
    assert g == pytest.approx(0.8 * 0.03 / np.sqrt(0.001 / 4), rel=1e-9)
    assert g == pytest.approx(1.5178933, rel=1e-6)
    assert notes == ()
    assert hedges_g_paired(b, a)[0] == pytest.approx(-g)
    assert hedges_g_paired(a[:2], b[:2])[0] is None
    assert hedges_g_paired(b + 0.03, b)[0] is None


# --- Bayesian correlated t-test ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "runs_", "rope"), [(10, 1, 0.01), (20, 2, 0.01), (30, 3, 0.005), (10, 1, 0.03)])
def test_correlated_t_test_equals_baycomp(n, runs_, rope):
    rng = np.random.default_rng(n)
    b = rng.normal(0.8, 0.02, n)
    a = b + 0.01 + rng.normal(0.0, 0.015, n)
    rho = runs_ / n  # baycomp: n_folds = n / runs and rho = 1 / n_folds
    got = correlated_t_test(a, b, rope=rope, rho=rho)
    want = baycomp.two_on_single(a, b, rope=rope, runs=runs_)
    assert got == pytest.approx(want, abs=1e-9)
    assert got == pytest.approx(baycomp.CorrelatedTTest.probs(a, b, rope=rope, runs=runs_), abs=1e-9)
    assert sum(got) == pytest.approx(1.0)


def test_correlated_t_test_without_correction_equals_baycomp_posterior(runs):
    a, b = runs
    # baycomp's difference is y - x, so its left region is "x = A better".
    d = b - a
    want = baycomp.single.Posterior(np.mean(d), np.var(d, ddof=1) / len(d), len(d) - 1, rope=0.01).probs()
    assert correlated_t_test(a, b, rope=0.01, rho=0.0) == pytest.approx(want, abs=1e-9)


def test_posterior_scale_by_hand():
    d = np.array([0.02, 0.04, 0.03, 0.05, 0.01])
    posterior = posterior_of_difference(d, rho=0.2)
    assert posterior.mean == pytest.approx(0.03)
    assert posterior.scale == pytest.approx(np.sqrt((1 / 5 + 0.2 / 0.8) * 0.00025))
    assert posterior.df == 4


@pytest.mark.parametrize(
    ("shift", "want"), [(0.05, (1.0, 0.0, 0.0)), (0.005, (0.0, 1.0, 0.0)), (-0.02, (0.0, 0.0, 1.0))]
)
def test_correlated_t_test_zero_variance_is_a_point_mass(shift, want):
    b = np.array([0.70, 0.75, 0.80, 0.85])
    assert correlated_t_test(b + shift, b, rope=0.01) == want


def test_correlated_t_test_flips_for_lower_is_better(runs):
    a, b = runs
    higher = correlated_t_test(a, b, rope=0.01)
    lower = correlated_t_test(a, b, rope=0.01, higher_is_better=False)
    assert lower == pytest.approx(higher[::-1])


@pytest.mark.parametrize(("rope", "rho"), [(-0.01, 0.0), (0.01, 1.0), (0.01, -0.1), (float("nan"), 0.0)])
def test_correlated_t_test_rejects_bad_settings(runs, rope, rho):
    with pytest.raises(ConfigError, match="rope|rho"):
        correlated_t_test(*runs, rope=rope, rho=rho)
