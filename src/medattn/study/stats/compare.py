"""One comparison of an attention variant (arm A) with its baseline (arm B) over paired runs.

The pairs are runs that share everything but the arm: the same seed and the same split. Direction convention:
differences and effect sizes (``mean_difference``, its CI, ``hedges_g``) are ``A - B`` in metric units, whatever
the metric's direction; everything named "better" (``p_better``, ``bayes``, ``verdict``) follows
``higher_is_better``, so for Brier, ECE or deletion AUC A is "better" when its score is lower.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medattn.study.stats._checks import as_pairs, check_rope_rho
from medattn.study.stats.bayesian import BayesProbabilities, correlated_t_test
from medattn.study.stats.paired import (
    MIN_PAIRS_FOR_CI,
    hedges_g_paired,
    mean_difference_ci,
    probability_of_outperforming,
    welch_p,
    wilcoxon_p,
)

VERDICTS = ("better", "worse", "equivalent", "undecided")


@dataclass(frozen=True)
class Comparison:
    """Everything a report says about one metric of arm A versus arm B.

    Attributes:
        metric: name of the metric or explanation score.
        n: number of paired runs.
        mean_a, std_a, mean_b, std_b: per-arm mean and sample standard deviation (ddof=1).
        mean_difference: mean of ``A - B``; ``ci_low``/``ci_high`` its 95 % BCa bootstrap CI (None below 3 pairs).
        p_better: P(A > B), the fraction of pairs A wins (ties 1/2, direction per ``higher_is_better``);
            ``p_better_ci`` its 95 % percentile bootstrap CI ((None, None) below 3 pairs).
        bayes: (P(A better), P(equivalent), P(B better)) of the Bayesian correlated t-test with ``rope``/``rho``.
        wilcoxon_p: two-sided Wilcoxon signed-rank p (None when all differences are zero).
        welch_p: two-sided Welch p, unpaired, for reproducing seed 004 only (None when both arms are constant).
        hedges_g: paired Hedges' g (d_z with small-sample correction), sign of ``A - B`` (None if undefined).
        verdict: "better", "worse", "equivalent" or "undecided" (see :func:`decide_verdict`).
        notes: sentences on tests that were not possible or degenerate.
        higher_is_better, rope, rho: the settings the comparison was made with.
        p_adjusted: the p-value behind ``mark`` after correction (None until :func:`apply_holm`).
        p_adjustment: which p-value and correction ``p_adjusted`` is, e.g. "holm(wilcoxon_p)".
        mark: "**" / "*" / "" for ``p_adjusted`` < 0.01 / < 0.05 / otherwise.
        family_size: how many comparisons ``p_adjusted`` was corrected with, itself included: those of the family
            passed to :func:`apply_holm` that have the p-value (1 for :func:`apply_marks`; None until either).
    """

    metric: str
    n: int
    mean_a: float
    std_a: float
    mean_b: float
    std_b: float
    mean_difference: float
    ci_low: float | None
    ci_high: float | None
    p_better: float
    p_better_ci: tuple[float | None, float | None]
    bayes: BayesProbabilities
    wilcoxon_p: float | None
    welch_p: float | None
    hedges_g: float | None
    verdict: str
    notes: tuple[str, ...] = ()
    higher_is_better: bool = True
    rope: float = 0.01
    rho: float = 0.0
    p_adjusted: float | None = None
    p_adjustment: str = ""
    mark: str = ""
    family_size: int | None = None

    @property
    def significant(self) -> bool:
        """True when ``p_adjusted < 0.05``: the value seed 004's Table 2 would print in bold."""
        return self.p_adjusted is not None and self.p_adjusted < 0.05


def decide_verdict(
    n: int, a_wins: bool, b_wins: bool, bayes: BayesProbabilities, *, threshold: float = 0.95
) -> tuple[str, tuple[str, ...]]:
    """Plain-words verdict from the two paired analyses, and a note explaining an "undecided".

    Rule (conservative: the two analyses must agree):
        * "equivalent": P(equivalent) > ``threshold`` (Benavoli et al. 2017 decide at 0.95);
        * "better": P(A better) > ``threshold`` and Bouthillier et al.'s (2021) rule declares A better
          (CI of P(A > B) above 0.5 and P(A > B) > gamma);
        * "worse": the same with the arms swapped;
        * "undecided": anything else, and always with fewer than 3 pairs.

    The verdict does not use the frequentist p-values and is not corrected for multiple comparisons; the Holm marks
    are its family-wise counterpart.
    """
    if n < MIN_PAIRS_FOR_CI:
        return "undecided", (f"verdict needs at least 3 pairs, got {n}",)
    if bayes.equivalent > threshold:
        return "equivalent", ()
    if a_wins and bayes.a_better > threshold:
        return "better", ()
    if b_wins and bayes.b_better > threshold:
        return "worse", ()
    return "undecided", (f"undecided: no outcome passes both the Bayesian test (> {threshold}) and the P(A>B) rule",)


def compare_paired(
    a: Sequence[float],
    b: Sequence[float],
    *,
    metric: str,
    higher_is_better: bool = True,
    rope: float = 0.01,
    rho: float = 0.0,
    n_bootstrap: int = 10000,
    seed: int = 0,
    gamma: float = 0.75,
) -> Comparison:
    """Compare arm A (attention variant) with arm B (baseline) over paired runs ``a[i]``, ``b[i]``.

    Computes per-arm mean +- std, the mean difference with its BCa CI (:func:`mean_difference_ci`), P(A > B) with
    Bouthillier et al.'s decision (:func:`probability_of_outperforming`), the Bayesian correlated t-test
    (:func:`correlated_t_test`), Wilcoxon signed-rank, Welch (for seed 004 only), paired Hedges' g and a verdict
    (:func:`decide_verdict`).

    Args:
        a: scores of arm A, one per run. b: scores of arm B, in the same (seed, split) order.
        metric: name shown in the report and in error messages.
        higher_is_better: False for metrics where lower is better (Brier, ECE, deletion AUC, loss).
        rope: half-width of the region of practical equivalence, in metric units.
        rho: Nadeau-Bengio correlation, ``n_test / (n_test + n_train)`` of the splits, so that
            ``rho / (1 - rho) = n_test / n_train`` (1/k for k-fold; validation images count in neither; 0 for
            independent runs such as different seeds on one split). See :func:`correlated_t_test`.
        n_bootstrap: bootstrap resamples for both CIs. seed: seeds both bootstraps.
        gamma: Bouthillier et al.'s threshold on P(A > B) for a meaningful improvement.

    Raises:
        ConfigError: arms of different lengths, NaN/inf values, fewer than 2 pairs, or invalid rope/rho.
    """
    arm_a, arm_b = as_pairs(a, b, metric)
    check_rope_rho(rope, rho)
    difference = mean_difference_ci(arm_a, arm_b, n_bootstrap=n_bootstrap, seed=seed)
    outperforming = probability_of_outperforming(
        arm_a, arm_b, higher_is_better=higher_is_better, gamma=gamma, n_bootstrap=n_bootstrap, seed=seed
    )
    bayes = correlated_t_test(arm_a, arm_b, rope=rope, rho=rho, higher_is_better=higher_is_better)
    wilcoxon, wilcoxon_notes = wilcoxon_p(arm_a, arm_b)
    welch, welch_notes = welch_p(arm_a, arm_b)
    hedges_g, hedges_notes = hedges_g_paired(arm_a, arm_b)
    verdict, verdict_notes = decide_verdict(len(arm_a), outperforming.a_better, outperforming.b_better, bayes)
    notes = difference.notes + outperforming.notes + wilcoxon_notes + welch_notes + hedges_notes + verdict_notes
    return Comparison(
        metric=metric,
        n=len(arm_a),
        mean_a=float(np.mean(arm_a)),
        std_a=float(np.std(arm_a, ddof=1)),
        mean_b=float(np.mean(arm_b)),
        std_b=float(np.std(arm_b, ddof=1)),
        mean_difference=difference.estimate,
        ci_low=difference.ci_low,
        ci_high=difference.ci_high,
        p_better=outperforming.probability,
        p_better_ci=(outperforming.ci_low, outperforming.ci_high),
        bayes=bayes,
        wilcoxon_p=wilcoxon,
        welch_p=welch,
        hedges_g=hedges_g,
        verdict=verdict,
        notes=notes,
        higher_is_better=higher_is_better,
        rope=rope,
        rho=rho,
    )
