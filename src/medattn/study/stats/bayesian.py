"""Bayesian correlated t-test with a region of practical equivalence (ROPE)."""

from typing import NamedTuple

import numpy as np
from scipy import stats

from medattn.study.stats._checks import check_rope_rho, is_constant


class BayesProbabilities(NamedTuple):
    """Posterior probabilities that A is practically better, equivalent to, or worse than B; they sum to 1."""

    a_better: float
    equivalent: float
    b_better: float


class TPosterior(NamedTuple):
    """Student-t posterior of the mean difference: location, scale and degrees of freedom."""

    mean: float
    scale: float
    df: int


def posterior_of_difference(difference: np.ndarray, *, rho: float = 0.0) -> TPosterior:
    """Posterior of the mean of ``difference`` under the correlated t model.

    Corani & Benavoli (2015), "A Bayesian approach for comparing cross-validated algorithms on multiple data sets",
    Mach. Learn. 100:285-304, and Benavoli et al. (2017), "Time for a change", JMLR 18(77), Sec. 3: with a
    non-informative prior the posterior of the mean difference is Student-t with ``df = n - 1``, location
    ``mean(d)`` and scale ``sqrt((1/n + rho/(1 - rho)) * var(d))`` (``var`` with ddof=1). ``rho`` is the
    correlation between differences from overlapping training sets. Nadeau & Bengio (2003), "Inference for the
    generalization error", Mach. Learn. 52:239-281, correct the variance by ``n_test / n_train``; here that
    ratio is ``rho / (1 - rho)``, so ``rho = n_test / (n_test + n_train)`` (validation images belong to neither).

    The scale is 0 when all differences are equal (up to float round-off): the posterior is then a point mass.
    """
    n = len(difference)
    mean = float(np.mean(difference))
    if is_constant(difference):
        return TPosterior(mean, 0.0, n - 1)
    return TPosterior(mean, float(posterior_scale(float(np.var(difference, ddof=1)), n, rho)), n - 1)


def posterior_scale(variance, n: int, rho: float):
    """``sqrt((1/n + rho/(1 - rho)) * variance)``: the posterior's scale for ``n`` differences of sample variance
    ``variance`` (ddof=1); elementwise when ``variance`` is an array (one per simulated study)."""
    return np.sqrt((1.0 / n + rho / (1.0 - rho)) * variance)


def region_probabilities(mean, scale, df: int, rope: float) -> BayesProbabilities:
    """P(d > rope), P(-rope <= d <= rope), P(d < -rope) under the Student-t posterior (``df``, ``mean``,
    ``scale``); a point mass at ``mean`` where ``scale`` is 0 (its region gets probability 1).

    Elementwise when ``mean`` and ``scale`` are arrays (one per simulated study): the fields are then arrays.
    """
    mean, scale = np.asarray(mean, dtype=float), np.asarray(scale, dtype=float)
    point = scale == 0.0
    spread = np.where(point, 1.0, scale)  # any positive scale: the point masses take the other branch
    a_better = np.where(point, mean > rope, stats.t.sf(rope, df, loc=mean, scale=spread))
    b_better = np.where(point, mean < -rope, stats.t.cdf(-rope, df, loc=mean, scale=spread))
    return BayesProbabilities(a_better, np.maximum(0.0, 1.0 - a_better - b_better), b_better)


def correlated_t_test(
    a: np.ndarray, b: np.ndarray, *, rope: float = 0.01, rho: float = 0.0, higher_is_better: bool = True
) -> BayesProbabilities:
    """P(A better), P(practically equivalent), P(B better) from the Bayesian correlated t-test.

    Benavoli, Corani, Demsar & Zaffalon (2017), "Time for a change: a tutorial for comparing multiple classifiers
    through Bayesian analysis", JMLR 18(77):1-36, Sec. 3 (see :func:`posterior_of_difference`). With
    ``d = a - b`` (``b - a`` for lower-is-better metrics, so "better" always means better):
    P(A better) = P(d > rope), P(equivalent) = P(-rope <= d <= rope), P(B better) = P(d < -rope). ``rope`` is the
    half-width of the ROPE, in metric units (0.01 = one percentage point of accuracy or AUC), as in baycomp.

    Choosing ``rho`` (Nadeau-Bengio correction):
        * k-fold cross-validation, repeated or not: ``rho = 1 / k``;
        * repeated random train/test splits: ``rho = n_test / (n_test + n_train)`` (Nadeau and Bengio's ratio
          ``n_test / n_train`` equals ``rho / (1 - rho)``); with a validation split or a data regime this is not
          the test fraction (``regime: 0.1`` makes ``n_train`` ten times smaller);
        * independent runs, e.g. different seeds on one fixed split, or splits with disjoint training sets:
          ``rho = 0``. With one fixed split the conclusion then generalises over seeds, not over data sets.

    Equals ``baycomp.two_on_single(a, b, rope, runs)`` when ``rho = runs / len(a)`` (baycomp's ``1 / n_folds``).
    Deviation: when all differences are equal the posterior is a point mass at their mean, so the region holding
    that mean gets probability 1 (the boundaries ``+-rope`` belong to the ROPE, as in baycomp, which does the same
    only when the variance is exactly zero). With ``rope = 0`` the ROPE is the single point 0 and P(equivalent)
    is 0 unless the posterior is a point mass at 0.
    """
    check_rope_rho(rope, rho)
    difference = a - b if higher_is_better else b - a
    posterior = posterior_of_difference(difference, rho=rho)
    return BayesProbabilities(*map(float, region_probabilities(posterior.mean, posterior.scale, posterior.df, rope)))
