"""The sections of the study report, as document blocks built from a :class:`StudyAnalysis`.

Each section function takes the analysis and the report's :class:`FigureFolder` and returns its blocks (none
when the study has nothing for it: no OOD sets, no ``regime`` factor, no explanation stage, no audit).
"""

import json
from pathlib import Path

import pandas as pd

from medattn.errors import ConfigError
from medattn.study.analysis import FPR_GRID, REGIME, StudyAnalysis, VariantComparison
from medattn.study.explain_stage import EXPLAIN
from medattn.study.report.document import (
    Block,
    Bold,
    Bullets,
    Figure,
    Heading,
    Paragraph,
    Table,
    compact,
    interval,
    mean_std,
    number,
    p_text,
    signed,
)
from medattn.study.report.figures import FigureFolder, box_strip, ood_figure, regime_figure, roc_figure, training_figure
from medattn.study.report.planning import decide_section
from medattn.study.report.reading import reading_section
from medattn.study.report.summary import explanation_sources, forest_plot, summary_section
from medattn.study.results import (
    FEATURES_JSON,
    decision_mark,
    explanation_folders,
    higher_is_better,
    uniform_map_scores,
    variant_label,
)
from medattn.study.runner import AUDIT

UNIFORM_ROW = "uniform map (reference)"

AUDIT_COUNTS = (
    ("num_images", "images"), ("num_files", "files"), ("classes", "classes"), ("unreadable", "unreadable files"),
    ("exact_duplicate_groups", "groups of identical files"), ("near_duplicate_groups", "groups of near duplicates"),
    ("cross_split_duplicates", "duplicate groups spanning splits"), ("label_conflicts", "label conflicts"),
    ("group_leaks", "group (patient) leaks"), ("skipped", "skipped manifest entries"),
)  # fmt: skip


def report_blocks(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    """Every section, in reading order."""
    sections = (
        summary_section, results_section, statistics_section, decide_section, delong_section, roc_section,
        training_section,
        cost_section, ood_section, regime_section, explanation_section, features_section, audit_section,
        failures_section,
        reading_section,
    )  # fmt: skip
    return [block for section in sections for block in section(analysis, figures)]


def _comparison_lookup(analysis: StudyAnalysis, source: str) -> dict[tuple[str, str], VariantComparison]:
    return {(c.variant, c.comparison.metric): c for c in analysis.comparisons if c.source == source}


def _result_cell(row: pd.Series, comparison: VariantComparison | None) -> str:
    text = mean_std(row["mean"], row["std"])
    if comparison is None:
        return text
    text = f"{text} {comparison.comparison.mark}".rstrip()
    return Bold(text) if comparison.welch_mark else text


def results_table(analysis: StudyAnalysis, source: str) -> Table:
    """Seed papers' style: one row per variant, mean ± std per metric, Holm marks, Welch (seed 004) in bold."""
    summary = analysis.summary[analysis.summary["source"] == source]
    metrics = list(dict.fromkeys(summary["metric"]))
    marks = _comparison_lookup(analysis, source)
    rows = []
    for variant in analysis.data.variants:
        mine = summary[summary["variant"] == variant].set_index("metric")
        if not mine.empty:
            cells = [_result_cell(mine.loc[m], marks.get((variant, m))) if m in mine.index else "n/a" for m in metrics]
            rows.append((variant, str(int(mine["n"].max())), *cells))
    caption = f"{source}: mean ± std over runs (↑ higher / ↓ lower is better)"
    if source.startswith("explanations") and (uniform := uniform_map_scores(analysis.data)):
        rows.append((UNIFORM_ROW, "", *(f"{uniform[m]:.3f}" if m in uniform else "" for m in metrics)))
        caption += f"; {UNIFORM_ROW}: what a constant map scores on the same images (each score's chance level)"
    arrows = [f"{m} {'↑' if higher_is_better(source, m) else '↓'}" for m in metrics]
    return Table(("variant", "runs", *arrows), tuple(rows), caption)


def _source_blocks(analysis: StudyAnalysis, figures: FigureFolder, source: str) -> list[Block]:
    values = analysis.values[analysis.values["source"] == source]
    if values.empty:
        return []
    metrics = [(m, higher_is_better(source, m)) for m in dict.fromkeys(values["metric"])]
    figure = box_strip(values, metrics, list(analysis.data.variants), f"{source}: every run")
    path = figures.save(figure, f"runs-{source}")
    return [
        Heading(source, 3),
        results_table(analysis, source),
        Figure(path, f"box and strip plots of every metric on {source}", f"{source}: one dot per run."),
    ]


def results_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    legend = (
        "Mean ± standard deviation over runs. * / ** : Holm-adjusted Wilcoxon p < 0.05 / < 0.01 against the "
        "variant's baseline (family: one metric on one split, or one score of one method; its size is in the "
        "Statistics table). Bold: Welch's t-test p < 0.05 without "
        "correction, the convention of seed 004's Table 2, shown to compare with that paper only."
    )
    blocks = [block for split in analysis.data.test_splits for block in _source_blocks(analysis, figures, split)]
    return [Heading("Results"), Paragraph(legend), *blocks]


def _delong_summary(analysis: StudyAnalysis, item: VariantComparison) -> str:
    if (item.source, item.comparison.metric) != ("test", "auc_roc"):
        return ""
    tested = [p.result for p in analysis.delong if (p.variant, p.baseline) == (item.variant, item.baseline)]
    tested = [result for result in tested if result is not None]
    return f"{sum(r.p_value < 0.05 for r in tested)}/{len(tested)} seeds p < 0.05" if tested else "n/a"


def _statistics_row(analysis: StudyAnalysis, item: VariantComparison) -> tuple[str, ...]:
    c = item.comparison
    return (
        f"{item.variant} vs {item.baseline}", item.source, c.metric, str(c.n), signed(c.mean_difference),
        interval(c.ci_low, c.ci_high), number(c.p_better, 2), interval(*c.p_better_ci), number(c.bayes.a_better),
        number(c.bayes.equivalent), number(c.bayes.b_better), f"±{c.rope:g}", number(c.rho, 2), p_text(c.wilcoxon_p),
        f"{p_text(c.p_adjusted)} {c.mark}".rstrip(), "n/a" if c.family_size is None else str(c.family_size),
        f"{p_text(c.welch_p)} {item.welch_mark}".rstrip(),
        number(c.hedges_g, 2), _delong_summary(analysis, item), c.verdict, "; ".join(c.notes),
    )  # fmt: skip


STATISTICS_COLUMNS = (
    "comparison", "source", "metric", "pairs", "mean diff", "95 % BCa CI", "P(A>B)", "P(A>B) 95 % CI",
    "P(better)", "P(equivalent)", "P(worse)", "ROPE", "rho", "Wilcoxon p", "Holm p", "Holm family", "Welch p",
    "Hedges g", "DeLong", "verdict", "notes",
)  # fmt: skip


def statistics_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    rows = tuple(_statistics_row(analysis, item) for item in analysis.comparisons)
    caption = (
        "A = variant, B = its baseline; ROPE: the region of practical equivalence the verdict used; Holm family: "
        "how many comparisons its Holm p was adjusted with"
    )
    blocks = [Heading("Statistics"), Paragraph(f"Bayesian correlated t-test: {analysis.rho_reason}.")]
    if rows:
        blocks.append(Table(STATISTICS_COLUMNS, rows, caption))
    for split in analysis.data.test_splits[1:]:
        blocks += forest_plot(analysis, figures, [split], split)
    blocks += forest_plot(analysis, figures, explanation_sources(analysis), "explanations")
    if analysis.skipped:
        blocks += [Paragraph("Not compared:"), Bullets(tuple(analysis.skipped))]
    if analysis.unusable:
        blocks += [Paragraph("Prediction files left out:"), Bullets(tuple(analysis.unusable))]
    return blocks


def delong_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    if not analysis.delong:
        return []
    if all(pair.result is None for pair in analysis.delong):
        reasons = "; ".join(dict.fromkeys(pair.note for pair in analysis.delong))
        return [Heading("DeLong per seed"), Paragraph(f"DeLong's test was not possible: {reasons}.")]
    rows = []
    for pair in analysis.delong:
        r = pair.result
        numbers = ("n/a",) * 5 if r is None else (
            number(r.auc_a), number(r.auc_b), signed(r.difference), interval(r.ci_low, r.ci_high), p_text(r.p_value)
        )  # fmt: skip
        rows.append((pair.variant, pair.baseline, str(pair.seed), *numbers, pair.note))
    columns = ("variant", "baseline", "seed", "AUC variant", "AUC baseline", "difference", "95 % CI", "p", "note")
    positive = f" (positive class: {analysis.classes[1]})" if len(analysis.classes) == 2 else ""
    text = f"DeLong's test of the two test-set AUCs{positive} of each seed (same images); per split, not corrected."
    return [Heading("DeLong per seed"), Paragraph(text), Table(columns, tuple(rows))]


def roc_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    if not analysis.roc:
        return []
    path = figures.save(roc_figure(analysis.roc, FPR_GRID, list(analysis.data.variants)), "roc-test")
    caption = (
        f"Test ROC curves (positive class: {analysis.classes[1]}), vertical mean over each variant's runs; "
        "legend: mean ± std of the runs' AUCs."
    )
    return [Heading("ROC curves"), Figure(path, "mean ROC curve per variant", caption)]


def training_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    if analysis.curves.empty:
        return []
    path = figures.save(training_figure(analysis.curves, list(analysis.data.variants)), "training")
    caption = "Per epoch, the mean over each variant's runs (runs stopped early leave the later means)."
    return [Heading("Training curves"), Figure(path, "validation AUC and losses per epoch", caption)]


def cost_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    rows = tuple(
        (row.variant, compact(row.params), compact(row.added_params), compact(row.attention_params),
         compact(row.macs), number(row.latency_ms, 2), number(row.relative_latency, 2),
         number(row.train_images_per_second, 1))
        for row in analysis.cost.itertuples()
    )  # fmt: skip
    columns = ("variant", "parameters", "added vs baseline", "attention parameters", "MACs / image",
               "latency ms / image", "latency x baseline", "training images / s")  # fmt: skip
    text = "Means over runs. Latency and throughput were measured on the machine that ran the study; compare ratios."
    return [Heading("Cost"), Paragraph(text), Table(columns, rows)]


def ood_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    if analysis.ood.empty:
        return []
    metrics = list(dict.fromkeys(analysis.ood["metric"]))
    rows = []
    for (split, variant), group in analysis.ood.groupby(["split", "variant"], sort=False):
        found = group.set_index("metric")
        rows.append((split, variant, *(mean_std(found.loc[m, "drop"], found.loc[m, "drop_std"])
                                       if m in found.index else "n/a" for m in metrics)))  # fmt: skip
    shown = "auc_roc" if "auc_roc" in metrics else metrics[0]
    path = figures.save(ood_figure(analysis.ood, shown, list(analysis.data.variants)), "ood-drop")
    text = "Drop = test minus OOD value, paired by seed (mean ± std); positive means worse out of distribution."
    return [
        Heading("Out-of-distribution drop"), Paragraph(text), Table(("OOD set", "variant", *metrics), tuple(rows)),
        Figure(path, f"drop in {shown} per variant and OOD set", f"Drop in {shown} (test - OOD) per variant."),
    ]  # fmt: skip


def regime_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    curves = analysis.regime
    if curves.empty:
        return []
    regimes = list(dict.fromkeys(curves.sort_values("regime", key=pd.to_numeric)["regime"]))
    rows = []
    for (group, metric), found in curves.groupby(["group", "metric"], sort=False):
        by_regime = found.set_index("regime")
        cells = [mean_std(by_regime.loc[r, "mean"], by_regime.loc[r, "std"]) if r in by_regime.index else "n/a"
                 for r in regimes]  # fmt: skip
        rows.append((group, metric, *cells))
    shown = [m for m in ("auc_roc", "balanced_accuracy") if m in set(curves["metric"])]
    blocks = [Heading("Data regimes"), Table(("variant", "metric", *map(str, regimes)), tuple(rows),
                                             f"test metric per {REGIME} (mean ± std over seeds)")]  # fmt: skip
    if shown:
        path = figures.save(regime_figure(curves, shown), "regimes")
        blocks.append(Figure(path, "test metrics against the data regime", "Mean ± std over seeds."))
    return blocks


def explanation_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    folders = explanation_folders(analysis.data)
    sources = [s for s in dict.fromkeys(analysis.values["source"]) if s.startswith("explanations")]
    if not folders and not sources:
        return []
    blocks = [Heading("Explanations")]
    for source in sources:
        blocks += _source_blocks(analysis, figures, source)
    blocks += _explanation_figures(folders, figures)
    status = _read_mapping(analysis.data.folder / EXPLAIN / "status.json")
    skipped = [f"seed {seed}: {state}" for seed, state in status.items() if state != "done"]
    return blocks + ([Paragraph("Seeds not explained:"), Bullets(tuple(skipped))] if skipped else [])


def features_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    """Seed 004's Table 3 from ``medattn features`` (``features.json`` in the study folder), with every p-value."""
    result = _read_mapping(analysis.data.folder / FEATURES_JSON)
    if not result:
        return []
    marks = {(row["run"], row["feature"]): decision_mark(row) for row in result["rows"]}
    names = {row["run"]: row["model"] for row in result["rows"]}
    tests = result["tests"]
    usage = Table(("model", *result["features"]),
                  tuple((names[run], *(marks[run, f] for f in result["features"])) for run in names))  # fmt: skip
    details = Table(
        ("model", "feature", "n", *(f"p {t}" for t in tests), *(f"Holm p {t}" for t in tests), "note"),
        tuple((row["model"], row["feature"], str(row["n"]), *(p_text(row["p"][t]) for t in tests),
               *(p_text(row["p_holm"].get(t)) for t in tests), row.get("reason", "")) for row in result["rows"]),
    )  # fmt: skip
    text = (
        f"Does the model's output depend on the feature given the true label? ✓ yes / ✗ no by the majority of "
        f"{', '.join(tests)} at p < {result['alpha']:g} (seed 004, Table 3), on the {result.get('split', 'test')} "
        f"predictions; in brackets the same decision with each test's p-values Holm-adjusted over all "
        f"{len(result['rows'])} model x feature pairs; - not tested (see the note)."
    )
    notes = [Paragraph(f"Note: {note}.") for note in result.get("notes", [])]
    return [Heading("Feature usage"), Paragraph(text), usage, *notes, details]


def _read_mapping(path: Path) -> dict:
    """A JSON mapping written by another stage; {} when absent. A broken file is a one-line ConfigError."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: not readable as JSON ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON mapping")
    return data


def _explanation_figures(folders: dict, figures: FigureFolder) -> list[Block]:
    """The grids and mean maps of the first explained seed (the others are in ``explain/seed-*``)."""
    for seed, folder in folders.items():
        images = sorted(folder.glob("grid-*.png")) + sorted(folder.glob("mean-*.png"))
        if images:
            return [
                Figure(figures.copy(image, f"explain-seed-{seed}-{image.stem}"), image.stem,
                       f"Seed {seed}: {image.name} (the other seeds' figures are in explain/seed-*/).")
                for image in images
            ]  # fmt: skip
    return []


def audit_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    audit = _read_mapping(analysis.data.folder / AUDIT)
    if not audit:
        return []
    rows = [(label, _audit_value(audit[key])) for key, label in AUDIT_COUNTS if key in audit]
    for split, per_class in (audit.get("counts") or {}).items():
        rows.append((f"images in {split}", ", ".join(f"{name}: {n}" for name, n in per_class.items())))
    findings = tuple(audit.get("findings") or ()) or ("no findings: nothing needs attention",)
    return [Heading("Dataset audit"), Table(("what", "count"), tuple(rows)), Bullets(tuple(map(str, findings)))]


def _audit_value(value) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) if all(isinstance(v, str) for v in value) and value else str(len(value))
    return str(value)


def failures_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    data = analysis.data
    rows = tuple((variant_label(row.cell), str(row.cell["seed"]), row.key, row.error or "") for row in data.failed)
    waiting = data.counts.get("pending", 0) + data.counts.get("running", 0)
    blocks = [Heading("Failed runs"), Table(("variant", "seed", "run", "error"), rows)] if rows else []
    if waiting:
        blocks.append(Paragraph(f"{waiting} run(s) have not finished yet; re-run `medattn study` to complete them."))
    if data.missing:
        keys = ", ".join(row.key for row in data.missing)
        blocks.append(Paragraph(f"{len(data.missing)} run(s) recorded done have lost their run directory ({keys}) and "
                                "are not reported; re-run `medattn study` to train them again."))  # fmt: skip
    return blocks
