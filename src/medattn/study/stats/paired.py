"""Frequentist summaries of paired runs: bootstrap CIs, P(A > B), Wilcoxon, Welch and Hedges' g.

Every function takes the two arms as equal-length arrays whose i-th entries come from the same seed and split, and
returns its value together with notes (plain sentences) that say when a test was not possible and why. A value that
could not be computed is ``None``, never NaN, so a report cannot mistake it for a number.
"""

import warnings
from typing import NamedTuple

import numpy as np
from scipy import stats

from medattn.study.stats._checks import is_constant, tie_rounded

MIN_PAIRS_FOR_CI = 3
EXACT_WILCOXON_MAX = 50  # non-zero differences; the exact distribution has n(n+1) + 1 doubled-rank sums


class MeanDifference(NamedTuple):
    """Mean of ``a - b`` with its 95 % BCa bootstrap interval (``None`` bounds when not computable)."""

    estimate: float
    ci_low: float | None
    ci_high: float | None
    notes: tuple[str, ...]


class Outperforming(NamedTuple):
    """P(A > B) with its percentile-bootstrap interval and the Bouthillier et al. (2021) decision."""

    probability: float
    ci_low: float | None
    ci_high: float | None
    a_better: bool
    b_better: bool
    notes: tuple[str, ...]


def _mean_of_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def mean_difference_ci(
    a: np.ndarray, b: np.ndarray, *, n_bootstrap: int = 10000, seed: int = 0, confidence: float = 0.95
) -> MeanDifference:
    """Mean paired difference ``a - b`` with a BCa bootstrap confidence interval.

    Resamples pairs (``scipy.stats.bootstrap(paired=True, method='BCa')``; Efron 1987, "Better bootstrap confidence
    intervals", JASA 82:171-185) with ``numpy.random.default_rng(seed)``, so the same inputs and seed give the same
    interval as a direct scipy call.

    Deviations: with fewer than 3 pairs no interval is given (the bootstrap distribution of 2 pairs has 3 values and
    BCa's jackknife acceleration is meaningless). When all differences are equal (up to float round-off) the
    interval is that value, as every resample gives it; scipy would return NaN. If BCa still fails (NaN), the
    percentile interval is given instead, with a note.
    """
    difference = a - b
    estimate = float(np.mean(difference))
    if len(difference) < MIN_PAIRS_FOR_CI:
        return MeanDifference(estimate, None, None, (f"no CI for the mean difference with {len(a)} pairs (needs 3)",))
    if is_constant(difference):
        note = f"all {len(a)} differences equal ({estimate:.6g}): the CI is that value"
        return MeanDifference(estimate, estimate, estimate, (note,))
    interval = _bootstrap_interval((a, b), _mean_of_difference, "BCa", n_bootstrap, seed, confidence)
    if np.all(np.isfinite(interval)):
        return MeanDifference(estimate, float(interval[0]), float(interval[1]), ())
    interval = _bootstrap_interval((a, b), _mean_of_difference, "percentile", n_bootstrap, seed, confidence)
    note = "BCa interval undefined on these data; percentile bootstrap interval given instead"
    return MeanDifference(estimate, float(interval[0]), float(interval[1]), (note,))


def _bootstrap_interval(data, statistic, method: str, n_bootstrap: int, seed: int, confidence: float):
    result = stats.bootstrap(
        data,
        statistic,
        paired=len(data) > 1,
        vectorized=True,
        method=method,
        n_resamples=n_bootstrap,
        confidence_level=confidence,
        rng=np.random.default_rng(seed),
    )
    return np.array([result.confidence_interval.low, result.confidence_interval.high], dtype=float)


def wins(a: np.ndarray, b: np.ndarray, *, higher_is_better: bool = True) -> np.ndarray:
    """Per pair: 1 where A is better, 0.5 for a tie, 0 where B is better.

    A tie is a difference ``a - b`` that is zero after rounding to ``TIE_DECIMALS`` decimals (``tie_rounded``), the
    same rule Wilcoxon's test uses for its zero differences: equal scores that float round-off made unequal tie.
    """
    difference = tie_rounded(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    a_better = difference > 0 if higher_is_better else difference < 0
    return np.where(difference == 0, 0.5, a_better.astype(float))


def probability_of_outperforming(
    a: np.ndarray,
    b: np.ndarray,
    *,
    higher_is_better: bool = True,
    gamma: float = 0.75,
    n_bootstrap: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Outperforming:
    """P(A > B): the fraction of pairs in which A beats B, with a percentile bootstrap CI over pairs.

    Bouthillier et al. (2021), "Accounting for variance in machine learning benchmarks", MLSys, Sec. 4. Ties
    (scores equal to 12 decimals, see :func:`wins`) count 1/2. "Better" follows ``higher_is_better``: for a
    lower-is-better metric (Brier, ECE, deletion AUC) A wins a pair when its score is lower.

    Decision rule (as implemented): A is better when the CI's lower bound is above 0.5 (statistically significant)
    and P(A > B) > ``gamma`` (meaningful, gamma = 0.75 as recommended); B is better, symmetrically, when the upper
    bound is below 0.5 and P(A > B) < 1 - gamma. The paper phrases "meaningful" as a threshold gamma on
    P(A > B); this implementation applies it to the point estimate.

    Deviations: the paper uses the estimator over independently drawn pairs of runs; here the pairs are the study's
    matched (seed, split) runs. No CI, hence no decision, with fewer than 3 pairs. When every pair has the same
    outcome the bootstrap distribution is a single value and the CI is that value.
    """
    outcome = wins(a, b, higher_is_better=higher_is_better)
    probability = float(np.mean(outcome))
    if len(outcome) < MIN_PAIRS_FOR_CI:
        note = f"no CI for P(A>B) with {len(a)} pairs (needs 3); no decision"
        return Outperforming(probability, None, None, False, False, (note,))
    if is_constant(outcome):
        low = high = probability
    else:
        low, high = _bootstrap_interval((outcome,), np.mean, "percentile", n_bootstrap, seed, confidence)
    a_better = bool(low > 0.5 and probability > gamma)
    b_better = bool(high < 0.5 and probability < 1 - gamma)
    return Outperforming(probability, float(low), float(high), a_better, b_better, ())


def wilcoxon_p(a: np.ndarray, b: np.ndarray) -> tuple[float | None, tuple[str, ...]]:
    """Two-sided Wilcoxon signed-rank p-value of ``a - b`` (Wilcoxon 1945), a sensitivity check.

    Differences are rounded to ``TIE_DECIMALS`` (12) decimals first (:func:`tie_rounded`, the rule :func:`wins`
    uses), so that float round-off of equal scores counts as a zero and of equal differences as a tie. Zero
    differences are discarded before ranking (Wilcoxon's original treatment, scipy's ``zero_method='wilcox'``);
    tied magnitudes get their average rank. With n non-zero differences:

    * n <= 50: the exact p-value, ``min(1, 2 * min(P(T <= t), P(T >= t)))`` for the sum T of the positive
      differences' ranks under the null (every sign +/- with probability 1/2, independently), from the exact
      distribution of T given these (average) ranks (:func:`exact_signed_rank_p`). With neither zeros nor ties
      this equals ``scipy.stats.wilcoxon(method='exact')``; scipy itself switches to the normal approximation
      when zeros or ties are present;
    * n > 50: scipy's normal approximation (``method='approx'``, tie-corrected variance, no continuity
      correction).

    The smallest two-sided p is 2 / 2**n, so fewer than 6 non-zero differences can never reach p < 0.05 (a note
    says so).
    """
    difference = tie_rounded(a - b)
    nonzero = difference[difference != 0]
    if len(nonzero) == 0:
        return None, ("Wilcoxon test not possible: all differences are zero",)
    notes = []
    if len(nonzero) < len(difference):
        notes.append(f"Wilcoxon: {len(difference) - len(nonzero)} zero difference(s) discarded")
    if len(nonzero) < 6:
        notes.append(f"Wilcoxon cannot reach p < 0.05 with {len(nonzero)} non-zero differences (needs 6)")
    if len(nonzero) <= EXACT_WILCOXON_MAX:
        return exact_signed_rank_p(nonzero), tuple(notes)
    notes.append(f"Wilcoxon: normal approximation ({len(nonzero)} non-zero differences, exact up to 50)")
    return float(approx_signed_rank_p(nonzero)), tuple(notes)


def approx_signed_rank_p(nonzero: np.ndarray, axis: int = -1) -> np.ndarray:
    """Two-sided p of the signed-rank test by scipy's normal approximation (tie-corrected variance, no continuity
    correction) along ``axis``: one p per set of non-zero differences."""
    return stats.wilcoxon(nonzero, zero_method="wilcox", method="approx", axis=axis).pvalue


def exact_signed_rank_p(nonzero: np.ndarray) -> float:
    """Exact two-sided p of the signed-rank statistic of non-zero differences, average ranks for tied magnitudes."""
    doubled = np.rint(2 * stats.rankdata(np.abs(nonzero))).astype(int)
    return float(signed_rank_p_values(doubled)[int(doubled[nonzero > 0].sum())])


def signed_rank_p_values(doubled: np.ndarray) -> np.ndarray:
    """Exact two-sided p of every value t the doubled signed-rank statistic can take (entry t), given the doubled
    (average) ranks of the non-zero differences: ``min(1, 2 * min(P(T <= t), P(T >= t)))`` under the null.

    Doubled average ranks are integers, so the null distribution of the doubled statistic is built by one
    convolution per difference (each adds 0 or its doubled rank with probability 1/2): O(n^3) at most, no 2**n
    enumeration.
    """
    distribution = np.zeros(int(doubled.sum()) + 1)
    distribution[0] = 1.0
    for rank in doubled:
        distribution = 0.5 * (distribution + np.concatenate([np.zeros(rank), distribution[: len(distribution) - rank]]))
    lower, upper = np.cumsum(distribution), np.cumsum(distribution[::-1])[::-1]
    return np.minimum(1.0, 2.0 * np.minimum(lower, upper))


def welch_p(a: np.ndarray, b: np.ndarray) -> tuple[float | None, tuple[str, ...]]:
    """Two-sided Welch's t-test p-value (Welch 1947), unpaired, as Piater et al. (2024, seed 004) used it.

    It ignores the pairing of runs and is reported only to reproduce seed 004's Table 2; the paired tests are the
    ones to read. Not possible when both arms have zero variance.
    """
    if is_constant(a) and is_constant(b):
        return None, ("Welch's t-test not possible: both arms have zero variance",)
    with warnings.catch_warnings():
        # One constant arm is legitimate (a saturated metric); scipy warns about its zero variance.
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue), ()


def hedges_g_paired(a: np.ndarray, b: np.ndarray) -> tuple[float | None, tuple[str, ...]]:
    """Hedges' g for paired data, the d_z variant: ``J * mean(a - b) / sd(a - b)``.

    ``sd`` has ddof=1 and ``J = 1 - 3 / (4 * df - 1)`` with ``df = n - 1`` is Hedges' (1981) small-sample
    correction (Lakens 2013, "Calculating and reporting effect sizes", Front. Psychol. 4:863). The sign is
    that of ``a - b`` in metric units, whatever the metric's direction. d_z measures the difference against its
    own run-to-run spread (not the arms' spread, g_av), which is what the paired tests use.

    Not defined for fewer than 3 pairs (J = 0 at df = 1) or when all differences are equal (sd = 0).
    """
    difference = a - b
    n = len(difference)
    if n < MIN_PAIRS_FOR_CI:
        return None, (f"Hedges' g not defined for {n} pairs (needs 3)",)
    if is_constant(difference):
        return None, ("Hedges' g not defined: all differences are equal (zero standard deviation)",)
    df = n - 1
    correction = 1.0 - 3.0 / (4.0 * df - 1.0)
    return float(correction * np.mean(difference) / np.std(difference, ddof=1)), ()
