"""DeLong's test against a hand-worked example, plain-loop structural components and sklearn."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from medattn.errors import ConfigError
from medattn.study.stats import delong_test

# Hand-worked: 3 positives, 2 negatives, one tie between a positive and a negative in model B.
LABELS = [1, 1, 1, 0, 0]
SCORES_A = [0.9, 0.8, 0.4, 0.5, 0.1]
SCORES_B = [0.7, 0.3, 0.6, 0.6, 0.2]


def test_delong_hand_worked_example():
    # Placement values (pair kernel 1 / 0.5 / 0):
    #   A: V10 = [1, 1, 1/2], V01 = [2/3, 1]  -> AUC 5/6, S10 = 1/12, S01 = 1/18
    #   B: V10 = [1, 1/2, 3/4], V01 = [1/2, 1] -> AUC 3/4, S10 = 1/16, S01 = 1/8
    #   cross: S10 = 0, S01 = 1/12
    # var(A) = (1/12)/3 + (1/18)/2 = 1/18; var(B) = (1/16)/3 + (1/8)/2 = 1/12; cov = 0/3 + (1/12)/2 = 1/24
    # var(A - B) = 1/18 + 1/12 - 2/24 = 1/18
    result = delong_test(LABELS, SCORES_A, SCORES_B)
    assert result.auc_a == pytest.approx(5 / 6)
    assert result.auc_b == pytest.approx(3 / 4)
    assert result.difference == pytest.approx(1 / 12)
    assert result.var_a == pytest.approx(1 / 18)
    assert result.var_b == pytest.approx(1 / 12)
    assert result.covariance == pytest.approx(1 / 24)
    assert result.se == pytest.approx(np.sqrt(1 / 18))
    assert result.z == pytest.approx((1 / 12) / np.sqrt(1 / 18))
    assert result.p_value == pytest.approx(2 * stats.norm.sf((1 / 12) / np.sqrt(1 / 18)))
    assert result.p_value == pytest.approx(0.72367, abs=1e-5)
    assert (result.ci_low, result.ci_high) == pytest.approx(
        (1 / 12 - 1.959964 * result.se, 1 / 12 + 1.959964 * result.se)
    )
    assert (result.n_positive, result.n_negative) == (3, 2)


def _placements_by_loops(labels, scores):
    """DeLong's V10 / V01 from the Mann-Whitney pair kernel psi(x, y) = 1 if x > y, 1/2 if equal, 0 otherwise."""
    positives = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    negatives = [s for s, y in zip(scores, labels, strict=True) if y == 0]

    def psi(x, y):
        return 1.0 if x > y else 0.5 if x == y else 0.0

    v10 = [sum(psi(x, y) for y in negatives) / len(negatives) for x in positives]
    v01 = [sum(psi(x, y) for x in positives) / len(positives) for y in negatives]
    return np.array(v10), np.array(v01)


def _sample_covariance(u, v):
    return sum((ui - u.mean()) * (vi - v.mean()) for ui, vi in zip(u, v, strict=True)) / (len(u) - 1)


def test_delong_equals_mann_whitney_placements_by_loops():
    rng = np.random.default_rng(0)
    labels = (rng.random(60) < 0.4).astype(int)
    # Rounded scores create ties within and across classes.
    scores_a = np.round(labels * 0.8 + rng.normal(0, 0.6, 60), 1)
    scores_b = np.round(scores_a * 0.5 + labels * 0.3 + rng.normal(0, 0.5, 60), 1)
    va10, va01 = _placements_by_loops(labels, scores_a)
    vb10, vb01 = _placements_by_loops(labels, scores_b)
    m, n = len(va10), len(va01)
    var_a = _sample_covariance(va10, va10) / m + _sample_covariance(va01, va01) / n
    var_b = _sample_covariance(vb10, vb10) / m + _sample_covariance(vb01, vb01) / n
    cov = _sample_covariance(va10, vb10) / m + _sample_covariance(va01, vb01) / n
    result = delong_test(labels, scores_a, scores_b)
    assert result.auc_a == pytest.approx(va10.mean()) and result.auc_a == pytest.approx(va01.mean())
    assert result.auc_b == pytest.approx(vb10.mean())
    assert (result.var_a, result.var_b, result.covariance) == pytest.approx((var_a, var_b, cov))
    se = np.sqrt(var_a + var_b - 2 * cov)
    assert result.se == pytest.approx(se)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(va10.mean() - vb10.mean()) / se))


def test_auc_equals_sklearn_and_mann_whitney_u():
    rng = np.random.default_rng(1)
    labels = (rng.random(200) < 0.3).astype(int)
    scores = np.round(labels + rng.normal(0, 1.0, 200), 1)
    other = rng.normal(0, 1.0, 200)
    result = delong_test(labels, scores, other)
    assert result.auc_a == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert result.auc_b == pytest.approx(roc_auc_score(labels, other), abs=1e-12)
    u = stats.mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
    assert result.auc_a == pytest.approx(u / (labels.sum() * (1 - labels).sum()))


def test_delong_identical_models_have_no_difference():
    result = delong_test(LABELS, SCORES_A, SCORES_A)
    assert result.difference == 0.0 and result.se == 0.0
    assert result.p_value == 1.0 and result.ci_low == result.ci_high == 0.0
    assert "zero variance" in result.notes[0]


def test_delong_swapping_models_flips_the_sign():
    forward, backward = delong_test(LABELS, SCORES_A, SCORES_B), delong_test(LABELS, SCORES_B, SCORES_A)
    assert backward.difference == pytest.approx(-forward.difference)
    assert backward.p_value == pytest.approx(forward.p_value)


@pytest.mark.parametrize(
    ("labels", "scores_a", "scores_b", "message"),
    [
        (LABELS, SCORES_A, SCORES_B[:4], "same length"),
        ([1, 1, 2, 0, 0], SCORES_A, SCORES_B, "0 or 1"),
        ([1, 0, 0, 0, 0], SCORES_A, SCORES_B, "at least 2 positives"),
        (LABELS, [0.9, float("nan"), 0.4, 0.5, 0.1], SCORES_B, "NaN"),
    ],
)
def test_delong_rejects_invalid_input(labels, scores_a, scores_b, message):
    with pytest.raises(ConfigError, match=message):
        delong_test(labels, scores_a, scores_b)
