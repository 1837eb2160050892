"""compare_paired, verdicts, Holm correction, marks and the report table."""

import dataclasses

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from medattn.errors import ConfigError
from medattn.study.stats import (
    COLUMNS,
    Comparison,
    apply_holm,
    apply_marks,
    compare_paired,
    holm,
    significance_mark,
    summary_table,
)

RESAMPLES = 2000


def _compare(a, b, **kwargs) -> Comparison:
    return compare_paired(a, b, metric=kwargs.pop("metric", "AUC"), n_bootstrap=RESAMPLES, **kwargs)


@pytest.fixture
def baseline():
    return np.random.default_rng(11).normal(0.80, 0.02, 10)


# --- verdicts ----------------------------------------------------------------------------------------------------


def test_clearly_better_arm_is_better(baseline):
    noise = np.random.default_rng(1).normal(0.0, 1e-3, 10)
    result = _compare(baseline + 0.05 + noise, baseline)
    assert result.verdict == "better"
    assert result.n == 10
    assert result.mean_difference == pytest.approx(0.05 + noise.mean())
    assert result.ci_low < result.mean_difference < result.ci_high
    assert result.p_better == 1.0 and result.p_better_ci == (1.0, 1.0)
    assert result.bayes.a_better > 0.999
    assert result.wilcoxon_p == pytest.approx(2 / 2**10)
    assert result.hedges_g > 10
    assert result.mean_a == pytest.approx(np.mean(baseline + 0.05 + noise))
    assert result.std_b == pytest.approx(np.std(baseline, ddof=1))


def test_clearly_worse_arm_is_worse(baseline):
    noise = np.random.default_rng(2).normal(0.0, 1e-3, 10)
    result = _compare(baseline - 0.05 + noise, baseline)
    assert result.verdict == "worse"
    assert result.p_better == 0.0 and result.bayes.b_better > 0.999


def test_arms_identical_up_to_noise_are_equivalent(baseline):
    noise = np.random.default_rng(3).normal(0.0, 1e-4, 10)
    result = _compare(baseline + noise, baseline, rope=0.01)
    assert result.verdict == "equivalent"
    assert result.bayes.equivalent > 0.999


def test_three_noisy_pairs_are_undecided():
    result = _compare([0.80, 0.83, 0.79], [0.78, 0.84, 0.77])
    assert result.verdict == "undecided"
    assert result.n == 3
    assert any("undecided" in note for note in result.notes)


def test_two_pairs_work_but_decide_nothing():
    result = _compare([0.90, 0.91], [0.80, 0.80])
    assert result.verdict == "undecided"
    assert result.ci_low is None and result.p_better_ci == (None, None) and result.hedges_g is None
    assert result.wilcoxon_p is not None and result.welch_p is not None
    assert sum(result.bayes) == pytest.approx(1.0)
    assert any("at least 3 pairs" in note for note in result.notes)


def test_wide_rope_makes_a_real_but_small_gain_equivalent(baseline):
    noise = np.random.default_rng(4).normal(0.0, 1e-3, 10)
    assert _compare(baseline + 0.005 + noise, baseline, rope=0.02).verdict == "equivalent"
    assert _compare(baseline + 0.005 + noise, baseline, rope=0.001).verdict == "better"


def test_lower_is_better_flips_every_better_but_not_the_difference(baseline):
    noise = np.random.default_rng(5).normal(0.0, 1e-3, 10)
    ece_a, ece_b = baseline * 0.1, baseline * 0.1 + 0.03 + noise  # A has the lower (better) ECE
    result = _compare(ece_a, ece_b, metric="ECE", higher_is_better=False)
    assert result.verdict == "better"
    assert result.mean_difference < 0 and result.ci_high < 0 and result.hedges_g < 0
    assert result.p_better == 1.0 and result.bayes.a_better > 0.999
    assert _compare(ece_a, ece_b, metric="ECE").verdict == "worse"
    mirrored = _compare(-ece_a, -ece_b, metric="ECE")
    assert mirrored.p_better == result.p_better
    assert tuple(mirrored.bayes) == pytest.approx(tuple(result.bayes))


def test_constant_differences_are_reported_not_crashed(baseline):
    result = _compare(baseline + 0.05, baseline)
    assert result.ci_low == result.ci_high == pytest.approx(0.05)
    assert tuple(result.bayes) == (1.0, 0.0, 0.0)
    assert result.hedges_g is None and result.verdict == "better"
    assert any("differences equal" in note for note in result.notes)


def test_comparison_is_frozen(baseline):
    result = _compare(baseline + 0.01, baseline)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.verdict = "better"


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ([0.8, 0.9, 0.7], [0.8, 0.9], "different lengths"),
        ([0.8, float("nan"), 0.7], [0.8, 0.9, 0.7], "NaN"),
        ([0.8], [0.7], "at least 2"),
        ([[0.8, 0.9]], [[0.7, 0.8]], "flat sequence"),
    ],
)
def test_compare_paired_rejects_invalid_input(a, b, message):
    with pytest.raises(ConfigError, match=message) as error:
        _compare(a, b, metric="AUC")
    assert "\n" not in str(error.value) and "AUC" in str(error.value)


def test_compare_paired_rejects_bad_rho(baseline):
    with pytest.raises(ConfigError, match="rho"):
        _compare(baseline, baseline + 0.01, rho=1.0)


# --- Holm and marks ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_holm_equals_statsmodels(seed):
    p = np.random.default_rng(seed).uniform(0, 0.2, 8)
    p[3] = p[5]  # a tie
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)


def test_holm_by_hand_and_with_missing_tests():
    # sorted 0.01, 0.02, 0.04 -> 3 * 0.01, max(0.03, 2 * 0.02), max(0.04, 1 * 0.04)
    np.testing.assert_allclose(holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])
    adjusted = holm([0.04, np.nan, 0.01, 0.02])
    assert np.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2, 3]], [0.04, 0.03, 0.04])
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        holm([0.5, 1.5])


@pytest.mark.parametrize(
    ("p", "mark"), [(0.001, "**"), (0.0099, "**"), (0.01, "*"), (0.049, "*"), (0.05, ""), (None, "")]
)
def test_significance_marks(p, mark):
    assert significance_mark(p) == mark


def test_apply_holm_adds_adjusted_p_and_marks(baseline):
    rng = np.random.default_rng(6)
    rows = [
        _compare(baseline + 0.05 + rng.normal(0, 1e-3, 10), baseline, metric="AUC"),
        _compare(baseline + rng.normal(0, 1e-2, 10), baseline, metric="accuracy"),
        _compare(baseline, baseline, metric="identical"),  # Wilcoxon not possible
    ]
    marked = apply_holm(rows)
    raw = [rows[0].wilcoxon_p, rows[1].wilcoxon_p]
    assert rows[2].wilcoxon_p is None
    assert [c.p_adjusted for c in marked[:2]] == pytest.approx(list(multipletests(raw, method="holm")[1]))
    assert marked[0].mark == "**" and marked[0].significant
    assert marked[2].p_adjusted is None and marked[2].mark == "" and not marked[2].significant
    assert all(c.p_adjustment == "holm(wilcoxon_p)" for c in marked)
    assert rows[0].p_adjusted is None  # the inputs are unchanged
    # the family is what was passed: 2 comparisons have a Wilcoxon p, the smallest is multiplied by 2
    assert [c.family_size for c in marked] == [2, 2, 2] and rows[0].family_size is None
    assert marked[0].p_adjusted == pytest.approx(min(1.0, 2 * min(raw)))
    unmarked = [dataclasses.replace(c, p_adjusted=None, p_adjustment="", mark="", family_size=None) for c in marked]
    assert unmarked == rows


def test_apply_marks_reproduces_uncorrected_welch(baseline):
    rows = [_compare(baseline - 0.03 + np.random.default_rng(7).normal(0, 0.01, 10), baseline)]
    marked = apply_marks(rows)
    assert marked[0].p_adjusted == rows[0].welch_p and marked[0].p_adjustment == "none(welch_p)"
    assert marked[0].significant and marked[0].family_size == 1  # uncorrected: every p is its own family
    with pytest.raises(ConfigError, match="choose one of: wilcoxon_p, welch_p"):
        apply_holm(rows, which="t_p")


# --- report table ------------------------------------------------------------------------------------------------


def test_summary_table(baseline):
    rows = apply_holm(
        [
            _compare(baseline + 0.05, baseline, metric="AUC"),
            _compare([0.10, 0.12], [0.11, 0.13], metric="ECE", higher_is_better=False),
        ]
    )
    table = summary_table(rows)
    assert list(table.columns) == list(COLUMNS)
    assert list(table["metric"]) == ["AUC", "ECE"]
    assert table.loc[0, "mean diff (A-B)"] == pytest.approx(0.05)
    assert table.loc[0, "verdict"] == "better" and table.loc[0, "mark"] == "**"
    assert table["family size"].tolist() == [2, 2]  # Holm over the 2 comparisons passed
    assert table["rope"].tolist() == [0.01, 0.01] and table["rho"].tolist() == [0.0, 0.0]
    assert np.isnan(table.loc[1, "diff CI low"]) and np.isnan(table.loc[1, "Hedges g (paired)"])
    assert "needs 3" in table.loc[1, "notes"]
    assert table["P(A>B)"].dtype == float and table["pairs"].dtype.kind == "i"
    assert summary_table([]).empty and list(summary_table([]).columns) == list(COLUMNS)
