"""feature_usage: majority and Holm decisions per model x feature on planted dependencies."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from medattn.errors import ConfigError
from medattn.features.usage import ModelOutputs, feature_usage
from medattn.study.results import Predictions, decision_mark

N = 300


@pytest.fixture(scope="module")
def planted():
    """Two models on the same 300 images: 'marker-user' responds to the marker, 'label-only' only to the label.

    Feature 'lesion_size' differs between the classes but, given the label, is noise for both models;
    'marker' is independent of the label; 'site' is categorical; 'age' is missing for most images.
    """
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, N)
    marker = rng.integers(0, 2, N)
    size = labels * 2.0 + rng.normal(size=N)
    logit_label = 3.0 * (labels - 0.5) + 0.5 * rng.normal(size=N)
    logit_marker = logit_label + 2.0 * marker
    paths = [f"/data/img{i}.png" for i in range(N)]
    features = pd.DataFrame(
        {"marker": marker, "lesion_size": size, "site": rng.choice(["head", "arm", "leg"], N),
         "age": np.where(np.arange(N) < 10, 50.0, np.nan)},
        index=paths,
    )  # fmt: skip
    models = [_model("marker-user", paths, labels, logit_marker), _model("label-only", paths, labels, logit_label)]
    return models, features


def _model(name, paths, labels, logit):
    p1 = 1 / (1 + np.exp(-logit))
    return ModelOutputs(name, f"/runs/{name}", Predictions(paths, ["normal", "lesion"], labels, np.c_[1 - p1, p1]))


def _row(result, model, feature):
    return next(r for r in result["rows"] if r["model"] == model and r["feature"] == feature)


def test_output_is_the_logit_of_the_positive_class(planted):
    models, _ = planted
    p = models[0].predictions.probabilities[:, 1]
    np.testing.assert_allclose(models[0].output()[:, 0], np.log(p / (1 - p)), rtol=1e-6)


def test_a_model_uses_the_feature_it_responds_to_and_not_one_that_only_goes_with_the_label(planted):
    models, features = planted
    result = feature_usage(models, features, max_n=300, permutations=200, seed=0)
    assert _row(result, "marker-user", "marker")["uses"] is True
    assert _row(result, "label-only", "marker")["uses"] is False
    for model in ("marker-user", "label-only"):
        assert _row(result, model, "lesion_size")["uses"] is False  # dependent only through the label
        assert _row(result, model, "site")["uses"] is False
    assert all(_row(result, "marker-user", "marker")["p"][t] < 0.01 for t in result["tests"])


def test_holm_adjusts_each_tests_p_values_over_all_pairs(planted):
    models, features = planted
    result = feature_usage(models, features, tests=["rcot"], max_n=300, seed=1)
    tested = [r for r in result["rows"] if r["uses"] is not None]
    raw = [r["p"]["rcot"] for r in tested]
    np.testing.assert_allclose([r["p_holm"]["rcot"] for r in tested], multipletests(raw, method="holm")[1])
    assert _row(result, "marker-user", "marker")["uses_holm"] is True
    assert not any(r["uses_holm"] for r in tested if r["feature"] != "marker" or r["model"] != "marker-user")
    assert result["notes"] == []


def test_the_report_says_when_too_few_permutations_make_holm_unable_to_reject(planted):
    models, features = planted
    result = feature_usage(models, features, tests=["chsic"], max_n=100, permutations=99)
    assert "cannot fall below 0.01; use --permutations 600 or more" in result["notes"][0]
    assert not any(r["uses_holm"] for r in result["rows"] if r["uses_holm"] is not None)


def test_a_feature_with_too_few_values_is_reported_not_tested(planted):
    models, features = planted
    result = feature_usage(models, features, tests=["rcot"], max_n=300)
    row = _row(result, "label-only", "age")
    assert row["uses"] is None and row["n"] == 10 and "fewer than 20" in row["reason"]
    assert decision_mark(row) == "-"


def test_results_are_reproducible_by_seed(planted):
    models, features = planted
    first = feature_usage(models, features, max_n=200, permutations=100, seed=3)
    assert first == feature_usage(models, features, max_n=200, permutations=100, seed=3)


def test_images_missing_from_the_features_table_are_a_one_line_error(planted):
    models, features = planted
    with pytest.raises(ConfigError, match="none of its 300 predicted images is in the features table"):
        feature_usage(models, features.set_axis([f"/other/{i}" for i in range(N)]))


@pytest.mark.parametrize(("option", "message"), [({"tests": ["chsic", "nope"]}, "unknown test 'nope'"),
                                                 ({"alpha": 1.5}, "--alpha: 1.5 is not in")])  # fmt: skip
def test_bad_options_are_one_line_errors(planted, option, message):
    models, features = planted
    with pytest.raises(ConfigError, match=message):
        feature_usage(models, features, **option)


def test_decision_mark_shows_the_raw_and_the_holm_decision():
    assert decision_mark({"uses": True, "uses_holm": False}) == "✓ [✗]"
    assert decision_mark({"uses": False, "uses_holm": False}) == "✗ [✗]"


def test_a_category_column_is_tested_as_categories_not_as_its_codes(planted):
    """A pandas ``category`` of numbers is one-hot encoded, as its string labels are, not one ordinal column."""
    models, features = planted
    codes = pd.Series(np.random.default_rng(1).integers(0, 3, N), index=features.index)
    as_category = pd.DataFrame({"grade": codes.astype("category")})
    as_strings = pd.DataFrame({"grade": codes.map({0: "g0", 1: "g1", 2: "g2"})})
    as_numbers = pd.DataFrame({"grade": codes.astype(float)})
    options = {"max_n": N, "permutations": 50, "seed": 0, "tests": ["rcot"]}
    p = {
        name: _row(feature_usage(models, table, **options), "marker-user", "grade")["p"]["rcot"]
        for name, table in (("category", as_category), ("strings", as_strings), ("numbers", as_numbers))
    }
    assert p["category"] == p["strings"] != p["numbers"]
