"""Every attention variant against its baseline, and the per-variant summaries the study report shows.

Pairing: a variant's run is paired with the baseline's run of the same seed (``medattn.study.grid.baseline_of``:
same factor values except the study's ``baseline`` factors). The study uses the training seed as the split seed,
so a pair shares its data split; every test metric (:data:`~medattn.study.results.METRICS`) of every test split
and every explanation score is compared with :func:`~medattn.study.stats.compare_paired`.

Holm families (:func:`~medattn.study.stats.apply_holm` on the Wilcoxon p-values): one per metric and test split,
or per explanation score and method, holding every variant's comparison with its baseline on it (every variant
against the baseline is one question asked several times). The comparisons of attention variants with their
parameter-matched controls form families of their own, by the same rule. The family-wise error rate is controlled
within each family, not over the report. Seed 004's uncorrected Welch marks (:func:`~medattn.study.stats.apply_marks`)
are kept beside them, to read the study as that paper's Table 2 would.

ROPE: each metric's and score's default (:mod:`medattn.study.measures`, on the measure's own scale), or the study
YAML's ``rope:`` override.

The Bayesian test's ``rho`` (Nadeau & Bengio 2003) comes from :func:`medattn.study.correlation.split_correlation`:
0 when every seed is tested on the same images, else ``n_test / (n_test + n_train)`` of each pair's runs.
DeLong's test compares the two AUCs of each pair on their shared
test set, one test per seed (not corrected for multiplicity: it is a per-split view, not the study-level test).
"""

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from medattn.errors import ConfigError
from medattn.study.correlation import split_correlation
from medattn.study.measures import rope_of
from medattn.study.results import (
    METRICS,
    Predictions,
    StudyData,
    StudyRun,
    higher_is_better,
    load_study_dir,
    read_history,
    read_predictions,
    value_frame,
    variant_label,
)
from medattn.study.stats import Comparison, DeLongResult, apply_holm, apply_marks, compare_paired, delong_test

FPR_GRID = np.linspace(0.0, 1.0, 101)
CURVE_COLUMNS = ("train_loss", "val_loss", "val_auc_roc")
COST_FIELDS = ("params", "attention_params", "macs", "latency_ms", "train_images_per_second")
REGIME = "regime"
DIFFERENT_IMAGES = "tested on different images (a factor changes the test set): DeLong needs one shared test set"


@dataclass(frozen=True)
class VariantComparison:
    """One metric (or explanation score) of a variant against its baseline on one source (test split).

    ``comparison`` carries the Holm-adjusted Wilcoxon p and its mark; ``welch_mark`` is seed 004's uncorrected
    Welch mark; ``seeds`` are the paired seeds, in the order of the arms.
    """

    variant: str
    baseline: str
    source: str
    comparison: Comparison
    seeds: tuple[int, ...]
    welch_mark: str = ""

    @property
    def family_size(self) -> int | None:
        """How many comparisons this one's Holm-adjusted p was corrected with (see :func:`holm_family`)."""
        return self.comparison.family_size

    def to_dict(self) -> dict:
        c = self.comparison
        return {
            "variant": self.variant, "baseline": self.baseline, "source": self.source, "metric": c.metric,
            "verdict": c.verdict, "n": c.n, "higher_is_better": c.higher_is_better, "mean_variant": c.mean_a,
            "mean_baseline": c.mean_b, "mean_difference": c.mean_difference, "ci": [c.ci_low, c.ci_high],
            "p_better": c.p_better, "p_better_ci": list(c.p_better_ci), "bayes": c.bayes._asdict(),
            "wilcoxon_p": c.wilcoxon_p, "p_adjusted": c.p_adjusted, "p_adjustment": c.p_adjustment, "mark": c.mark,
            "welch_p": c.welch_p, "welch_mark": self.welch_mark, "hedges_g": c.hedges_g, "rope": c.rope,
            "rho": c.rho, "family_size": c.family_size, "seeds": list(self.seeds),
        }  # fmt: skip


@dataclass(frozen=True)
class DeLongPair:
    """DeLong's test of a variant's and its baseline's test AUCs for one seed (``result`` None: ``note`` says why)."""

    variant: str
    baseline: str
    seed: int
    result: DeLongResult | None
    note: str = ""


@dataclass(frozen=True)
class RocCurve:
    """A variant's ROC curve averaged over its runs: mean TPR on ``FPR_GRID``, and the runs' AUC mean and std."""

    variant: str
    tpr: np.ndarray
    auc_mean: float
    auc_std: float
    n: int


@dataclass(frozen=True)
class StudyAnalysis:
    """Everything the report shows; frames are long tables (see each function for the columns).

    ``classes`` are the class names of the test predictions (for binary tasks the second is the positive class of
    the ROC curves and DeLong's test); ``unusable`` says which runs' prediction files were left out, and why;
    ``rho`` maps each compared (variant, baseline) pair to the rho its comparisons used, ``rho_reason`` says how it
    was chosen.
    """

    data: StudyData
    values: pd.DataFrame
    summary: pd.DataFrame
    comparisons: list[VariantComparison]
    skipped: list[str]
    rho: dict[tuple[str, str], float]
    rho_reason: str
    classes: list[str]
    unusable: list[str]
    delong: list[DeLongPair]
    roc: list[RocCurve]
    curves: pd.DataFrame
    cost: pd.DataFrame
    ood: pd.DataFrame
    regime: pd.DataFrame


def analyse_study(folder) -> StudyAnalysis:
    """Load a study folder and compute every table of its report."""
    data = load_study_dir(folder)
    values = value_frame(data)
    predictions, unusable = usable_test_predictions(data)
    rho, reason = split_correlation(data, predictions)
    ropes = data.study.rope
    comparisons, skipped = compare_variants(values, data.baselines, rho=rho, ropes=ropes)
    # attention vs its parameter-matched control: is a gain attention, or only size? (its own Holm families)
    against_controls, _ = compare_variants(values, data.controls, rho=rho, ropes=ropes)
    comparisons += against_controls
    classes = next((found.classes for found in predictions.values() if found is not None), [])
    return StudyAnalysis(
        data=data, values=values, summary=summarise_values(values), comparisons=comparisons, skipped=skipped,
        rho=rho, rho_reason=reason, classes=classes, unusable=unusable, delong=delong_per_seed(data, predictions),
        roc=mean_roc(data, predictions), curves=training_curves(data), cost=cost_table(data),
        ood=ood_drop(values, data.test_splits), regime=regime_curves(values, data),
    )  # fmt: skip


def usable_test_predictions(data: StudyData) -> tuple[dict[str, Predictions | None], list[str]]:
    """Each run's ``predictions-test.csv``, or None when missing or not the test set its stored metrics scored.

    A file with another number of images than the stored test metrics' ``n`` was overwritten by another evaluation
    (e.g. of an OOD set); using it would compare the wrong images, so it is left out with a line saying so.
    """
    found, unusable = {}, []
    for run in data.runs:
        predictions = read_predictions(run)
        expected = (run.metrics.get("test") or {}).get("n")
        if predictions is not None and isinstance(expected, int) and expected != len(predictions.paths):
            unusable.append(
                f"{run.folder}: predictions-test.csv has {len(predictions.paths)} images, the stored test metrics "
                f"{expected}; left out of the ROC curves and DeLong's test"
            )
            predictions = None
        found[run.key] = predictions
    return found, unusable


def summarise_values(values: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof=1; NaN for one run) and number of runs per source, variant and metric."""
    grouped = values.groupby(["source", "variant", "metric"], sort=False)["value"]
    return grouped.agg(mean="mean", std="std", n="size").reset_index()


def compare_variants(
    values: pd.DataFrame,
    baselines: dict[str, str],
    *,
    rho: float | dict[tuple[str, str], float] = 0.0,
    ropes: dict[str, float] | None = None,
) -> tuple[list[VariantComparison], list[str]]:
    """Every variant against its baseline on every (source, metric) both have, over the seeds both have.

    Args:
        values: :func:`~medattn.study.results.value_frame`.
        baselines: variant -> the variant it is compared with.
        rho: one rho for every comparison, or one per (variant, baseline) pair (:func:`split_correlation`).
        ropes: ROPE overrides per metric or score (the study's ``rope:``); the rest use their defaults
            (:func:`medattn.study.measures.rope_of`).

    Returns:
        The comparisons with Holm marks over the whole family and seed 004's Welch marks, and one line per
        (variant, source) that could not be compared (fewer than 2 paired runs).
    """
    found, skipped = [], {}
    groups = list(values.groupby(["source", "metric"], sort=False))
    finished = set(values["variant"])
    for variant, baseline in baselines.items():
        missing = [name for name in (variant, baseline) if name not in finished]
        if missing:
            skipped[f"{variant} vs {baseline}: no finished run of {' or '.join(missing)}"] = None
        for (source, metric), group in groups:
            pairs = paired_values(group, variant, baseline)
            if pairs is None:
                continue
            if len(pairs) < 2:
                line = f"{variant} vs {baseline} on {source}: {len(pairs)} paired run(s), needs 2"
                skipped[line] = None
                continue
            comparison = compare_paired(
                pairs[variant].to_numpy(), pairs[baseline].to_numpy(), metric=metric,
                higher_is_better=higher_is_better(source, metric), rope=rope_of(metric, ropes),
                rho=rho[(variant, baseline)] if isinstance(rho, dict) else rho,
            )  # fmt: skip
            found.append(VariantComparison(variant, baseline, source, comparison, tuple(map(int, pairs.index))))
    return _with_family_marks(found), list(skipped)


def paired_values(group: pd.DataFrame, variant: str, baseline: str) -> pd.DataFrame | None:
    """The values of both arms on the seeds both have, in seed order (index seed, columns ``variant`` and
    ``baseline``), from ``group``: the :func:`~medattn.study.results.value_frame` rows of one source and metric.
    None when either arm has no value there."""
    table = group.pivot(index="seed", columns="variant", values="value")
    if variant not in table or baseline not in table:
        return None
    return table[[variant, baseline]].dropna().sort_index()


def holm_family(item: VariantComparison) -> tuple[str, str]:
    """The Holm family of a comparison within one :func:`compare_variants` call: its test split (or explanation
    source) and metric (or score). Each call (baselines, parameter-matched controls) has families of its own."""
    return item.source, item.comparison.metric


def _with_family_marks(found: list[VariantComparison]) -> list[VariantComparison]:
    marked = {}
    for family in dict.fromkeys(map(holm_family, found)):
        members = [i for i, item in enumerate(found) if holm_family(item) == family]
        plain = [found[i].comparison for i in members]
        for i, adjusted, welch in zip(members, apply_holm(plain), apply_marks(plain), strict=True):
            marked[i] = replace(found[i], comparison=adjusted, welch_mark=welch.mark)
    return [marked[i] for i in range(len(found))]


def _runs_by_cell(data: StudyData) -> dict[tuple[str, int], StudyRun]:
    return {(run.variant, run.seed): run for run in data.runs}


def delong_per_seed(data: StudyData, predictions: dict[str, Predictions | None]) -> list[DeLongPair]:
    """DeLong's test of every variant against its baseline, per seed, on ``predictions-test.csv`` (pairs tested
    on different images get no test, and a note)."""
    runs = _runs_by_cell(data)
    seeds = sorted({run.seed for run in data.runs})
    pairs = []
    for variant, baseline in data.baselines.items():
        for seed in seeds:
            if (variant, seed) in runs and (baseline, seed) in runs:
                pairs.append(_delong_pair(runs[(variant, seed)], runs[(baseline, seed)], predictions))
    return pairs


def _delong_pair(a: StudyRun, b: StudyRun, predictions: dict[str, Predictions | None]) -> DeLongPair:
    found_a, found_b = predictions.get(a.key), predictions.get(b.key)
    if found_a is None or found_b is None:
        return DeLongPair(a.variant, b.variant, a.seed, None, "no usable predictions-test.csv")
    if len(found_a.classes) != 2:
        return DeLongPair(a.variant, b.variant, a.seed, None, f"binary tasks only ({len(found_a.classes)} classes)")
    shared = _shared_test_set(found_a, found_b)
    if shared is None:
        return DeLongPair(a.variant, b.variant, a.seed, None, DIFFERENT_IMAGES)
    positive, scores_a, scores_b = shared
    try:
        result = delong_test(positive, scores_a, scores_b)
    except ConfigError as error:
        return DeLongPair(a.variant, b.variant, a.seed, None, str(error))
    return DeLongPair(a.variant, b.variant, a.seed, result, "; ".join(result.notes))


def _shared_test_set(found_a: Predictions, found_b: Predictions):
    """Labels (1 = second class) and positive-class scores of both runs, aligned by image path; None when the
    two runs were tested on different images (a factor such as the synthetic shortcut changes the test set)."""
    order_a = np.argsort(np.asarray(found_a.paths, dtype=str), kind="stable")
    order_b = np.argsort(np.asarray(found_b.paths, dtype=str), kind="stable")
    same = (
        found_a.classes == found_b.classes
        and [found_a.paths[i] for i in order_a] == [found_b.paths[i] for i in order_b]
        and np.array_equal(found_a.labels[order_a], found_b.labels[order_b])
    )
    if not same:
        return None
    positive = (found_a.labels[order_a] == 1).astype(float)
    return positive, found_a.probabilities[order_a, 1], found_b.probabilities[order_b, 1]


def mean_roc(data: StudyData, predictions: dict[str, Predictions | None]) -> list[RocCurve]:
    """Per variant, the vertical average of its runs' test ROC curves (binary tasks with both classes present)."""
    per_variant: dict[str, list[tuple[np.ndarray, float]]] = {}
    for run in data.runs:
        found = predictions.get(run.key)
        if found is None or len(found.classes) != 2 or len(set(found.labels.tolist())) < 2:
            continue
        fpr, tpr, _ = roc_curve(found.labels, found.probabilities[:, 1])
        curve = np.interp(FPR_GRID, fpr, tpr)
        curve[0] = 0.0
        per_variant.setdefault(run.variant, []).append((curve, roc_auc_score(found.labels, found.probabilities[:, 1])))
    return [
        RocCurve(variant, np.mean([c for c, _ in runs], axis=0), float(np.mean([a for _, a in runs])),
                 float(np.std([a for _, a in runs], ddof=1)) if len(runs) > 1 else float("nan"), len(runs))
        for variant, runs in per_variant.items()
    ]  # fmt: skip


def training_curves(data: StudyData) -> pd.DataFrame:
    """Mean of ``CURVE_COLUMNS`` over each variant's runs per epoch: columns variant, epoch, runs, ..."""
    frames = [history.assign(variant=run.variant) for run in data.runs if (history := read_history(run)) is not None]
    if not frames:
        return pd.DataFrame(columns=["variant", "epoch", "runs", *CURVE_COLUMNS])
    history = pd.concat(frames, ignore_index=True)
    columns = [name for name in CURVE_COLUMNS if name in history]
    grouped = history.groupby(["variant", "epoch"], sort=False)
    return grouped[columns].mean().join(grouped.size().rename("runs")).reset_index()


def cost_table(data: StudyData) -> pd.DataFrame:
    """Mean of every cost field per variant, parameters added over its baseline and latency relative to it."""
    records = [{"variant": run.variant, **{name: run.cost.get(name) for name in COST_FIELDS}} for run in data.runs]
    frame = pd.DataFrame.from_records(records, columns=["variant", *COST_FIELDS])
    frame[list(COST_FIELDS)] = frame[list(COST_FIELDS)].apply(pd.to_numeric, errors="coerce")
    means = frame.groupby("variant", sort=False)[list(COST_FIELDS)].mean()
    base = means.index.map(lambda variant: _baseline_or_self(data, variant))
    means["added_params"] = means["params"].to_numpy() - means["params"].reindex(base).to_numpy()
    means["relative_latency"] = means["latency_ms"].to_numpy() / means["latency_ms"].reindex(base).to_numpy()
    return means.reset_index()


def _baseline_or_self(data: StudyData, variant: str) -> str:
    return data.baselines.get(variant, variant)


def ood_drop(values: pd.DataFrame, splits: list[str]) -> pd.DataFrame:
    """Per OOD split, variant and higher-is-better metric: mean test and OOD values, and the paired drop.

    Columns: split, variant, metric, test, ood, drop (mean of test - OOD over seeds with both), drop_std, n.
    Positive drops mean the variant does worse out of distribution.
    """
    test = values[(values["source"] == "test") & values["metric"].map(lambda m: higher_is_better("test", m))]
    frames = []
    for split in splits[1:]:
        merged = test.merge(values[values["source"] == split], on=["variant", "seed", "metric"], suffixes=("", "_ood"))
        merged = merged.assign(drop=merged["value"] - merged["value_ood"])
        grouped = merged.groupby(["variant", "metric"], sort=False)
        summary = grouped.agg(test=("value", "mean"), ood=("value_ood", "mean"), drop=("drop", "mean"),
                              drop_std=("drop", "std"), n=("drop", "size"))  # fmt: skip
        frames.append(summary.reset_index().assign(split=split))
    columns = ["split", "variant", "metric", "test", "ood", "drop", "drop_std", "n"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def regime_curves(values: pd.DataFrame, data: StudyData) -> pd.DataFrame:
    """Test metrics against the data regime, when ``regime`` is a factor (seed 001's 1-100 % curves).

    Columns: group (the variant without its regime), regime, metric, mean, std, n; empty without the factor.
    """
    columns = ["group", "regime", "metric", "mean", "std", "n"]
    if REGIME not in data.study.factors:
        return pd.DataFrame(columns=columns)
    test = values[(values["source"] == "test") & values["metric"].isin(METRICS)]
    factors = test["variant"].map(data.variants)
    test = test.assign(
        group=factors.map(lambda f: variant_label({k: v for k, v in f.items() if k != REGIME})),
        regime=factors.map(lambda f: f[REGIME]),
    )
    grouped = test.groupby(["group", "metric", "regime"], sort=False)["value"]
    summary = grouped.agg(mean="mean", std="std", n="size").reset_index()
    return summary.sort_values(["group", "metric", "regime"], kind="stable", key=_in_order)[columns]


def _in_order(column: pd.Series) -> pd.Series:
    """Sort key: numeric order for numbers (the regime), first-appearance order for anything else."""
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.notna().all():
        return numbers
    return column.map({value: rank for rank, value in enumerate(dict.fromkeys(column))})
