"""Study analysis on study folders built without training: store rows and run files whose values the tests set.

The default study: attention none (baseline) / se / cbam x 10 seeds, one OOD set. se beats none by 0.05 + 0.001 *
seed in every metric (ECE: lower by as much), cbam equals none up to +-0.0025, cbam's seed 9 failed. Numbers are
checked against numpy, scipy, statsmodels and scikit-learn.
"""

import dataclasses
import hashlib
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.multitest import multipletests

from medattn.config import write_yaml
from medattn.errors import ConfigError
from medattn.study.analysis import analyse_study, compare_variants
from medattn.study.results import METRICS, load_study_dir, value_frame
from medattn.study.stats import compare_paired, delong_test
from medattn.study.store import StudyStore
from medattn.train.rundir import write_history, write_metrics, write_predictions

SEEDS = tuple(range(10))
CLASSES = ("normal", "lesion")
BASE = {
    "auc_roc": 0.80,
    "balanced_accuracy": 0.75,
    "accuracy": 0.76,
    "f1": 0.70,
    "recall": 0.72,
    "specificity": 0.78,
    "ece": 0.08,
}
OOD_DROP = {"none": 0.10, "se": 0.05, "cbam": 0.10}
PARAMS = {"none": 11_000_000, "se": 11_050_000, "cbam": 11_060_000}
FAILED = {("cbam", 9): "RuntimeError: CUDA out of memory"}
N_TEST = 40
N_TRAIN = 120  # recorded split sizes: train 120, val 40, test 40, so rho = 40 / (40 + 120)
RHO = N_TEST / (N_TEST + N_TRAIN)


def recorded_sizes(cell: dict) -> dict | None:
    return {"train": N_TRAIN, "val": N_TEST, "test": N_TEST}


def effect(attention: str, seed: int) -> float:
    """How much better than the baseline a variant is in one seed (cbam: within +-0.0025 of it).

    No two differences have the same magnitude, so scipy's Wilcoxon p is exact without a slow permutation test.
    """
    return {"none": 0.0, "se": 0.05 + 0.001 * seed, "cbam": 0.0005 * (seed - 4.3)}.get(attention, 0.0)


def default_value(cell: dict, split: str, metric: str) -> float:
    gain = effect(cell["attention"], cell["seed"]) - (OOD_DROP.get(cell["attention"], 0.1) if split != "test" else 0.0)
    return BASE[metric] + 0.01 * math.sin(cell["seed"]) + (-gain if metric == "ece" else gain)


def run_key(cell: dict) -> str:
    return hashlib.sha256(json.dumps(cell, sort_keys=True).encode()).hexdigest()[:16]


def build_study(
    root,
    *,
    factors: dict | None = None,
    seeds=SEEDS,
    failed: dict = FAILED,
    value=default_value,
    shared_test_set: bool = False,
    explain: bool = True,
    classes=CLASSES,
    sizes=recorded_sizes,
    rope: dict | None = None,
    scores: dict | None = None,
    seconds=lambda cell: 1.0,
):
    """Write a study folder: study.yaml, study.sqlite and run directories; returns the folder.

    ``sizes(cell)`` gives a run's recorded ``split_sizes`` (None: not recorded, as runs written before they were);
    ``rope`` is the study's ``rope:`` section; ``scores`` replaces the explanation scores written (SCORE_EFFECT);
    ``seconds(cell)`` is the run time the store records.
    """
    factors = factors or {"attention": ["none", "se", "cbam"]}
    study = {
        "name": "fixture",
        "data": {"synthetic_n": 200},
        "model": {"backbone": "resnet18"},
        "factors": factors,
        "seeds": list(seeds),
        "baseline": {"attention": "none"},
        "ood": [{"name": "ood_site", "path": "/x"}],
    } | ({"rope": rope} if rope else {})
    write_yaml(root / "study.yaml", study)
    with StudyStore(root / "study.sqlite") as store:
        for values in itertools.product(*factors.values()):
            for seed in seeds:
                cell = {**dict(zip(factors, values, strict=True)), "seed": seed}
                _add_run(root, store, cell, failed, value, shared_test_set, classes, sizes, seconds)
    if explain:
        _write_explanations(root, seeds, factors["attention"], failed, scores or SCORE_EFFECT)
    return root


def _add_run(root, store, cell, failed, value, shared_test_set, classes, sizes, seconds):
    key = run_key(cell)
    store.register(
        key, cell, {"data": {"test_fraction": 0.2, **({"regime": cell["regime"]} if "regime" in cell else {})}}
    )
    error = failed.get((cell["attention"], cell["seed"]))
    if error:
        store.mark_failed(key, error)
        return
    metrics = {split: {m: {"value": value(cell, split, m)} for m in METRICS} for split in ("test", "ood_site")}
    metrics["test"]["n"] = N_TEST
    if sizes(cell) is not None:
        metrics["test"]["split_sizes"] = sizes(cell)
    metrics["val"] = {"auc_roc": {"value": 0.5}}
    params = PARAMS.get(cell["attention"], PARAMS["none"])
    cost = {
        "params": params,
        "attention_params": params - PARAMS["none"],
        "macs": 1.8e9,
        "latency_ms": 5.0 + 0.1 * cell["seed"],
        "train_images_per_second": 100.0,
        "threads": 2,
    }
    store.mark_done(key, metrics, cost, seconds=seconds(cell))
    folder = root / "runs" / key
    folder.mkdir(parents=True)
    write_metrics(folder, "test", metrics["test"])
    paths, labels, probabilities = predictions_of(cell, shared_test_set)
    write_predictions(folder, "test", paths, labels, probabilities, list(classes))
    write_history(folder, [_epoch(cell, epoch) for epoch in (1, 2, 3)])


def written_scores(attention: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and positive-class scores as ``predictions-test.csv`` holds them (6 decimals)."""
    _, labels, probabilities = predictions_of({"attention": attention, "seed": seed})
    return labels, np.round(probabilities[:, 1], 6)


def predictions_of(cell: dict, shared_test_set: bool = False):
    """40 test images per seed (the same paths for every variant of a seed); se separates the classes best."""
    rng = np.random.default_rng(cell["seed"])
    labels = np.arange(N_TEST) % 2
    strength = {"se": 2.5}.get(cell["attention"], 1.0)
    logits = strength * (2 * labels - 1) + rng.normal(0, 1.5, N_TEST)
    positive = 1 / (1 + np.exp(-logits))
    folder = "shared" if shared_test_set else f"seed{cell['seed']}"
    return [f"/data/{folder}/img{i:03d}.png" for i in range(N_TEST)], labels, np.stack([1 - positive, positive], 1)


def _epoch(cell: dict, epoch: int) -> dict:
    gain = effect(cell["attention"], cell["seed"])
    return {
        "epoch": epoch,
        "train_loss": 1.0 / epoch,
        "val_loss": 1.2 / epoch - gain,
        "val_auc_roc": 0.6 + 0.05 * epoch + gain,
        "val_balanced_accuracy": 0.6,
        "lr": 0.01,
        "seconds": 1.0,
        "images_per_second": 100.0,
    }


SCORE_EFFECT = {
    "sparseness": {"none": 0.30, "se": 0.40, "cbam": 0.30},
    "deletion_auc": {"none": 0.20, "se": 0.15, "cbam": 0.20},
}


def _write_explanations(root, seeds, attentions, failed, scores):
    """Per seed whose runs all finished: scores.csv (4 images), and for the first seed its grid and mean maps."""
    for seed in seeds:
        if any((a, seed) in failed for a in attentions):
            continue
        folder = root / "explain" / f"seed-{seed}"
        folder.mkdir(parents=True)
        rows = [
            {
                "model": a,
                "method": "gradcam",
                "image": i,
                "score": score,
                "value": by_variant[a] + 0.001 * seed * (a != "none") + 0.01 * i + (np.nan if i == 3 else 0.0),
            }
            for a in attentions
            for score, by_variant in scores.items()
            for i in range(4)
        ]
        pd.DataFrame(rows).to_csv(folder / "scores.csv", index=False)
        if seed == seeds[0]:
            for name in ("grid-gradcam.png", "mean-gradcam.png"):
                Image.new("RGB", (60, 40), (200, 30, 30)).save(folder / name)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    return build_study(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def analysis(study_dir):
    return analyse_study(study_dir)


def _comparison(analysis, variant, source, metric):
    (found,) = [
        c for c in analysis.comparisons if (c.variant, c.source, c.comparison.metric) == (variant, source, metric)
    ]
    return found


def _arm(attention, seeds, split="test", metric="auc_roc"):
    return np.array([default_value({"attention": attention, "seed": s}, split, metric) for s in seeds])


def test_loading_keeps_finished_runs_of_the_grid_and_lists_the_failed_one(study_dir):
    data = load_study_dir(study_dir)
    assert len(data.runs) == 29 and data.counts == {"done": 29, "failed": 1, "pending": 0, "running": 0}
    assert [(r.cell["attention"], r.cell["seed"], r.error) for r in data.failed] == [
        ("cbam", 9, "RuntimeError: CUDA out of memory")
    ]
    assert list(data.variants) == ["none", "se", "cbam"]
    assert data.baselines == {"se": "none", "cbam": "none"}
    assert data.test_splits == ["test", "ood_site"]


def test_pairs_are_the_seeds_both_arms_finished_and_match_numpy_and_scipy(analysis):
    se, cbam = _comparison(analysis, "se", "test", "auc_roc"), _comparison(analysis, "cbam", "test", "auc_roc")
    assert se.seeds == SEEDS and cbam.seeds == SEEDS[:9]
    a, b = _arm("se", SEEDS), _arm("none", SEEDS)
    c = se.comparison
    assert c.n == 10 and c.mean_a == pytest.approx(a.mean()) and c.std_a == pytest.approx(a.std(ddof=1))
    assert c.mean_b == pytest.approx(b.mean()) and c.std_b == pytest.approx(b.std(ddof=1))
    assert c.mean_difference == pytest.approx(0.05 + 0.0045)
    assert c.wilcoxon_p == pytest.approx(stats.wilcoxon(a - b).pvalue) == pytest.approx(2 / 2**10)
    assert c.welch_p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert c.rho == pytest.approx(RHO) and c.rope == 0.01
    assert dataclasses.replace(c, p_adjusted=None, p_adjustment="", mark="", family_size=None) == compare_paired(
        a, b, metric="auc_roc", rho=RHO
    )


def test_verdicts_follow_the_built_in_effects_and_directions(analysis):
    assert _comparison(analysis, "se", "test", "auc_roc").comparison.verdict == "better"
    assert _comparison(analysis, "se", "test", "ece").comparison.verdict == "better"  # lower ECE
    assert not _comparison(analysis, "se", "test", "ece").comparison.higher_is_better
    assert _comparison(analysis, "cbam", "test", "auc_roc").comparison.verdict == "equivalent"
    assert _comparison(analysis, "se", "explanations (gradcam)", "deletion_auc").comparison.verdict == "better"


def test_holm_runs_within_each_metric_and_split(analysis):
    families = {}
    for c in analysis.comparisons:
        families.setdefault((c.source, c.comparison.metric), []).append(c)
    # 2 splits x 7 metrics + 2 explanation scores, each asked of 2 variants
    assert len(families) == 16 and all(len(members) == 2 for members in families.values())
    for members in families.values():
        raw = np.array([np.nan if c.comparison.wilcoxon_p is None else c.comparison.wilcoxon_p for c in members])
        finite = ~np.isnan(raw)
        adjusted = np.array([c.comparison.p_adjusted for c in members], dtype=float)
        np.testing.assert_allclose(adjusted[finite], multipletests(raw[finite], method="holm")[1])
        assert all(c.family_size == int(finite.sum()) for c in members)
    assert all(c.comparison.p_adjustment == "holm(wilcoxon_p)" for c in analysis.comparisons)
    # se has the smallest Wilcoxon p of 10 pairs, 2 / 2**10; Holm multiplies it by the family's 2
    se = _comparison(analysis, "se", "test", "auc_roc")
    assert se.comparison.p_adjusted == pytest.approx(2 * 2 / 2**10) and se.comparison.mark == "**"
    assert se.welch_mark == "**"  # seed 004's uncorrected Welch test


def test_explanation_scores_are_averaged_over_images_per_run(analysis):
    rows = analysis.values[(analysis.values["source"] == "explanations (gradcam)")]
    se = rows[(rows["variant"] == "se") & (rows["metric"] == "sparseness")].set_index("seed")["value"]
    # images 0-2 (image 3 is NaN): 0.40 + 0.001 * seed + mean(0, 0.01, 0.02)
    np.testing.assert_allclose(se.to_numpy(), [0.41 + 0.001 * s for s in SEEDS[:9]])
    assert _comparison(analysis, "se", "explanations (gradcam)", "sparseness").seeds == SEEDS[:9]


def test_delong_per_seed_on_the_shared_test_set(analysis, study_dir):
    pairs = [(p.variant, p.seed) for p in analysis.delong]
    assert pairs == [("se", s) for s in SEEDS] + [("cbam", s) for s in SEEDS[:9]]
    first = analysis.delong[0]
    (labels, a), (_, b) = written_scores("se", 0), written_scores("none", 0)
    assert first.result.auc_a == pytest.approx(roc_auc_score(labels, a))
    assert first.result.p_value == pytest.approx(delong_test(labels, a, b).p_value)
    assert all(p.result is not None and 0 <= p.result.p_value <= 1 for p in analysis.delong)


def test_delong_skips_runs_tested_on_different_images_and_says_why(tmp_path):
    folder = build_study(tmp_path, seeds=(0, 1), failed={}, explain=False)
    key = run_key({"attention": "se", "seed": 1})
    predictions = folder / "runs" / key / "predictions-test.csv"
    predictions.write_text(predictions.read_text().replace("img000", "other000"))
    skipped = [p for p in analyse_study(folder).delong if p.result is None]
    assert [(p.variant, p.seed) for p in skipped] == [("se", 1)]
    assert skipped[0].note.startswith("tested on different images")


def test_predictions_overwritten_by_another_evaluation_are_left_out(tmp_path):
    folder = build_study(tmp_path, seeds=(0, 1, 2), failed={}, explain=False)
    key = run_key({"attention": "se", "seed": 1})
    predictions = folder / "runs" / key / "predictions-test.csv"
    predictions.write_text("".join(predictions.read_text().splitlines(keepends=True)[:-5]))
    analysis = analyse_study(folder)
    assert len(analysis.unusable) == 1 and f"{key}: predictions-test.csv has 35 images" in analysis.unusable[0]
    (pair,) = [p for p in analysis.delong if (p.variant, p.seed) == ("se", 1)]
    assert pair.result is None and pair.note == "no usable predictions-test.csv"
    assert {c.variant: c.n for c in analysis.roc} == {"none": 3, "se": 2, "cbam": 3}


def test_a_variant_whose_baseline_never_finished_is_listed_as_not_compared(tmp_path):
    failed = {("none", s): "RuntimeError: boom" for s in (0, 1)}
    analysis = analyse_study(build_study(tmp_path, seeds=(0, 1), failed=failed, explain=False))
    assert analysis.comparisons == []
    assert analysis.skipped == ["se vs none: no finished run of none", "cbam vs none: no finished run of none"]


def test_rho_is_zero_when_every_seed_shares_one_test_set(tmp_path):
    analysis = analyse_study(build_study(tmp_path, seeds=(0, 1, 2), failed={}, explain=False, shared_test_set=True))
    assert set(analysis.rho.values()) == {0.0} and "same images" in analysis.rho_reason
    assert all(c.comparison.rho == 0 for c in analysis.comparisons)


def regime_sizes(cell: dict) -> dict:
    """1000 images: val 150, test 150 and a training split of 700 thinned by the regime."""
    return {"train": round(700 * cell["regime"]), "val": 150, "test": 150}


def test_rho_follows_each_pairs_recorded_split_sizes_so_a_small_regime_raises_it(tmp_path):
    factors = {"attention": ["none", "se"], "regime": [1.0, 0.1]}
    folder = build_study(tmp_path, factors=factors, seeds=(0, 1, 2), failed={}, value=regime_value, explain=False,
                         sizes=regime_sizes)  # fmt: skip
    analysis = analyse_study(folder)
    # Nadeau & Bengio's n_test / n_train is rho / (1 - rho): 150 / 700 and 150 / 70 (the test fraction was 0.2)
    assert analysis.rho == {("se, 1.0", "none, 1.0"): pytest.approx(150 / 850), ("se, 0.1", "none, 0.1"): 150 / 220}
    for item in analysis.comparisons:
        rho = item.comparison.rho
        assert rho / (1 - rho) == pytest.approx(150 / (700 if item.variant == "se, 1.0" else 70))
    assert "n_test / (n_test + n_train)" in analysis.rho_reason and "did not record" not in analysis.rho_reason


def test_rho_of_runs_without_recorded_split_sizes_is_estimated_from_their_fractions(tmp_path):
    factors = {"attention": ["none", "se"], "regime": [0.5]}
    folder = build_study(tmp_path, factors=factors, seeds=(0, 1, 2), failed={}, value=regime_value, explain=False,
                         sizes=lambda cell: None)  # fmt: skip
    analysis = analyse_study(folder)
    # test n 40 at test fraction 0.2, val 0.15 (default), regime 0.5: n_train = 40 * 0.5 * 0.65 / 0.2 = 65
    assert analysis.rho == {("se, 0.5", "none, 0.5"): pytest.approx(40 / (40 + 65))}
    assert "6 run(s) did not record their split sizes" in analysis.rho_reason


def test_each_metric_and_score_gets_its_own_rope_and_the_study_can_override_one(tmp_path):
    ropes = {
        (c.source, c.comparison.metric): c.comparison.rope for c in analyse_study(build_study(tmp_path)).comparisons
    }
    assert ropes[("test", "auc_roc")] == 0.01 and ropes[("test", "ece")] == 0.005
    assert ropes[("explanations (gradcam)", "sparseness")] == 0.01
    overridden = analyse_study(build_study(tmp_path / "wide", seeds=(0, 1, 2, 3, 4), rope={"auc_roc": 0.1}))
    se = _comparison(overridden, "se", "test", "auc_roc").comparison
    assert se.rope == 0.1 and se.verdict == "equivalent"  # a gain of about 0.05 is inside +-0.1
    assert _comparison(overridden, "se", "test", "accuracy").comparison.rope == 0.01


def test_an_explanation_score_missing_from_the_registry_is_refused_not_taken_as_higher_is_better(tmp_path):
    folder = build_study(tmp_path, seeds=(0, 1, 2), failed={}, scores={"made_up_score": SCORE_EFFECT["sparseness"]})
    with pytest.raises(ConfigError, match="explanation score 'made_up_score'.*not in the score registry") as info:
        analyse_study(folder)
    assert "\n" not in str(info.value) and "sparseness" in str(info.value)


def test_cost_per_variant_and_parameters_added_over_the_baseline(analysis):
    cost = analysis.cost.set_index("variant")
    assert cost.loc["se", "added_params"] == 50_000 and cost.loc["none", "added_params"] == 0
    assert cost.loc["cbam", "latency_ms"] == pytest.approx(5.0 + 0.1 * np.mean(SEEDS[:9]))
    assert cost.loc["se", "relative_latency"] == pytest.approx(1.0)


def test_ood_drop_is_the_paired_mean_of_test_minus_ood(analysis):
    drop = analysis.ood.set_index(["variant", "metric"])
    assert drop.loc[("se", "auc_roc"), "drop"] == pytest.approx(0.05)
    assert drop.loc[("none", "auc_roc"), "drop"] == pytest.approx(0.10)
    assert drop.loc[("cbam", "auc_roc"), "n"] == 9
    assert "ece" not in set(analysis.ood["metric"])  # lower-is-better metrics have no "drop"


def test_training_curves_average_the_runs_per_epoch(analysis):
    se = analysis.curves[analysis.curves["variant"] == "se"]
    assert se["epoch"].tolist() == [1, 2, 3] and se["runs"].tolist() == [10, 10, 10]
    assert se["val_auc_roc"].tolist() == pytest.approx([0.6 + 0.05 * e + 0.05 + 0.0045 for e in (1, 2, 3)])


def test_roc_curves_average_each_variants_runs(analysis):
    curves = {c.variant: c for c in analysis.roc}
    assert list(curves) == ["none", "se", "cbam"] and curves["cbam"].n == 9
    aucs = [roc_auc_score(*written_scores("se", s)) for s in SEEDS]
    assert curves["se"].auc_mean == pytest.approx(np.mean(aucs))
    assert curves["se"].tpr[0] == 0 and curves["se"].tpr[-1] == 1 and np.all(np.diff(curves["se"].tpr) >= 0)


def regime_value(cell: dict, split: str, metric: str) -> float:
    return 0.6 + 0.2 * cell["regime"] + (0.03 if cell["attention"] == "se" else 0.0) + 0.001 * cell["seed"]


def test_regime_curves_when_the_study_crosses_data_regimes(tmp_path):
    factors = {"attention": ["none", "se"], "regime": [1.0, 0.1]}
    folder = build_study(tmp_path, factors=factors, seeds=(0, 1, 2), failed={}, value=regime_value, explain=False)
    analysis = analyse_study(folder)
    auc = analysis.regime[analysis.regime["metric"] == "auc_roc"]
    assert auc["group"].tolist() == ["none", "none", "se", "se"]
    assert auc["regime"].tolist() == [0.1, 1.0, 0.1, 1.0]
    assert auc["mean"].tolist() == pytest.approx([0.621, 0.801, 0.651, 0.831])
    assert {(c.variant, c.baseline) for c in analysis.comparisons} == {
        ("se, 1.0", "none, 1.0"),
        ("se, 0.1", "none, 0.1"),
    }


def test_a_variant_with_one_paired_run_is_listed_as_not_compared():
    values = pd.DataFrame(
        {
            "variant": ["a", "b", "a", "b"],
            "seed": [0, 0, 1, 2],
            "source": "test",
            "metric": "auc_roc",
            "value": [0.8, 0.7, 0.8, 0.7],
        }
    )
    comparisons, skipped = compare_variants(values, {"a": "b"})
    assert comparisons == [] and skipped == ["a vs b on test: 1 paired run(s), needs 2"]


def test_search_stage_runs_and_stale_factor_values_are_left_out(tmp_path):
    folder = build_study(tmp_path, seeds=(0, 1), failed={}, explain=False)
    with StudyStore(folder / "study.sqlite") as store:
        for cell in ({"attention": "se", "seed": 0, "lr": 0.1}, {"attention": "gc", "seed": 0}):
            store.register(run_key(cell), cell, {})
            store.mark_done(run_key(cell), {"test": {"auc_roc": {"value": 0.1}}}, {}, seconds=1.0)
    data = load_study_dir(folder)
    assert len(data.runs) == 6 and list(data.variants) == ["none", "se", "cbam"]
    assert set(value_frame(data)["value"]) != {0.1}


@pytest.mark.parametrize(
    ("prepare", "problem"),
    [
        (lambda d: d / "missing", "no such study folder"),
        (lambda d: d, "not a study folder \\(no study.yaml\\)"),
        (
            lambda d: build_study(
                d, seeds=(0,), failed={("none", 0): "x", ("se", 0): "x", ("cbam", 0): "x"}, explain=False
            ),
            "no finished runs to report \\(3 failed\\)",
        ),
    ],
)
def test_missing_or_empty_study_folders_are_one_line_errors(tmp_path, prepare, problem):
    folder = prepare(tmp_path)
    with pytest.raises(ConfigError, match=f"^{folder}: {problem}") as info:
        analyse_study(folder)
    assert "\n" not in str(info.value)


def test_an_attention_variant_is_also_compared_with_its_parameter_matched_control(tmp_path):
    root = build_study(tmp_path, factors={"attention": ["none", "se", "matched-se"]}, seeds=SEEDS[:4], failed={},
                       explain=False)  # fmt: skip
    analysis = analyse_study(root)
    assert analysis.data.controls == {"se": "matched-se"}
    pairs = {(c.variant, c.baseline) for c in analysis.comparisons}
    assert pairs == {("se", "none"), ("matched-se", "none"), ("se", "matched-se")}
    against = next(c for c in analysis.comparisons if (c.variant, c.baseline, c.source) == ("se", "matched-se", "test")
                   and c.comparison.metric == "auc_roc")  # fmt: skip
    # the control has no built-in effect, so se beats it by se's effect on every seed
    expected = np.mean([effect("se", s) for s in SEEDS[:4]])
    assert against.comparison.mean_difference == pytest.approx(expected)
