"""The measure registry: every compared metric and score has a direction and a ROPE; the study's ``rope:``."""

import pytest

from medattn.errors import ConfigError
from medattn.explain.scores import SCORES
from medattn.study.config import parse_study
from medattn.study.measures import METRICS, check_ropes, default_ropes, higher_is_better, rope_of


def test_every_metric_and_explanation_score_has_a_default_rope_on_its_scale():
    ropes = default_ropes()
    assert set(ropes) == {*METRICS, *SCORES}
    assert ropes["auc_roc"] == ropes["sparseness"] == ropes["deletion_auc"] == 0.01  # on [0, 1]
    assert ropes["ssim"] == ropes["spearman"] == 0.02  # on [-1, 1]
    assert ropes["ece"] == 0.005 and ropes["max_sensitivity"] == 0.01
    assert rope_of("ece", {"ece": 0.002}) == 0.002 and rope_of("ece", {"auc_roc": 0.1}) == 0.005


def test_a_score_missing_from_the_registry_has_no_direction_and_is_refused():
    assert higher_is_better("explanations (gradcam)", "sparseness") is True
    assert higher_is_better("explanations (gradcam)", "deletion_auc") is False
    assert higher_is_better("test", "ece") is False and higher_is_better("test", "auc_roc") is True
    with pytest.raises(ConfigError, match="^explanation score 'gini' .*unknown; known scores: relevance_mass") as info:
        higher_is_better("explanations (gradcam)", "gini")
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="no default ROPE for 'gini'"):
        rope_of("gini")


def test_the_study_yaml_overrides_ropes_per_metric():
    study = parse_study({"name": "s", "rope": {"auc_roc": 0.02, "ece": 0.005, "ssim": 0}})
    assert study.rope == {"auc_roc": 0.02, "ece": 0.005, "ssim": 0.0}
    assert parse_study({"name": "s"}).rope == {}
    # the ROPE only changes the analysis: a folder's runs stay valid when it is edited
    assert study.digest() == parse_study({"name": "s"}).digest()


@pytest.mark.parametrize(
    ("rope", "problem"),
    [
        ({"auc": 0.02}, r"study.yaml: rope.auc is not a metric or explanation score; valid: auc_roc, .*, ece, .*ssim"),
        ({"ece": -0.01}, r"study.yaml: rope.ece must be a finite number >= 0, got -0.01"),
        ({"ece": "small"}, r"study.yaml: rope.ece must be a finite number >= 0, got 'small'"),
        ({"ece": float("nan")}, r"study.yaml: rope.ece must be a finite number >= 0"),
        ([0.01], r"study.yaml: 'rope' must be a mapping of metric or score name to a number"),
    ],
)
def test_bad_ropes_are_one_line_errors_naming_the_key(rope, problem):
    with pytest.raises(ConfigError, match=f"^{problem}") as info:
        parse_study({"name": "s", "rope": rope}, "study.yaml")
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError):
        check_ropes(rope, "study.yaml")
