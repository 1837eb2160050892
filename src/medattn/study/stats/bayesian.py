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
    variance = (1.0 / n + rho / (1.0 - rho)) * float(np.var(difference, ddof=1))
    return TPosterior(mean, float(np.sqrt(variance)), n - 1)


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
    if posterior.scale == 0.0:
        above, below = posterior.mean > rope, posterior.mean < -rope
        return BayesProbabilities(float(above), float(not (above or below)), float(below))
    t = stats.t(posterior.df, loc=posterior.mean, scale=posterior.scale)
    a_better, b_better = float(t.sf(rope)), float(t.cdf(-rope))
    return BayesProbabilities(a_better, max(0.0, 1.0 - a_better - b_better), b_better)
