"""The report's Summary: what the study found in one sentence, the verdict grid, the forest plot of the primary
test split, when and why a study with sequential seeds stopped, and every comparison in words.

The grid has one row per comparison (a variant against its baseline; an attention variant against its
parameter-matched control as a row of its own, next to its mechanism's) and one column per metric of the primary
test split, then per explanation score, grouped by method. Each cell holds the mean paired difference (variant -
baseline, on the measure's scale) and the verdict, coloured by it. The forest plots (here the primary split's, in
the Statistics section the other splits' and the explanation scores') show the same differences with their BCa
95 % intervals against each measure's ROPE.
"""

from collections import Counter

import pandas as pd

from medattn.study.analysis import StudyAnalysis, VariantComparison
from medattn.study.report.document import (
    Block,
    Bullets,
    Details,
    Figure,
    Heading,
    Paragraph,
    Table,
    VerdictCell,
    p_text,
    signed,
)
from medattn.study.report.figures import FigureFolder, forest_figure
from medattn.study.report.reading import HOLM_FAMILIES, family_count
from medattn.study.results import higher_is_better
from medattn.study.sequential import read_state, stop_sentence
from medattn.study.stats import VERDICTS, Comparison

EXPLANATIONS = "explanations"
HEADLINE_METRIC = "auc_roc"
IN_WORDS = "Every comparison in words"
VERDICT_PHRASES = (
    ("better", "better in"),
    ("worse", "worse in"),
    ("equivalent", "equivalent within the ROPE in"),
    ("undecided", "undecided in"),
)

Pair = tuple[str, str]  # (variant, the variant it is compared with)
Column = tuple[str, str]  # (source, metric)


def pair_label(pair: Pair) -> str:
    return f"{pair[0]} vs {pair[1]}"


def comparison_pairs(analysis: StudyAnalysis) -> list[Pair]:
    """Every compared (variant, baseline) pair in grid order of the variant; a parameter-matched control's
    comparison with the baseline right after its mechanism's, then the mechanism against its control."""
    controls = analysis.data.controls
    mechanism_of = {control: mechanism for mechanism, control in controls.items()}
    order = list(analysis.data.variants)

    def place(pair: Pair) -> tuple[int, int]:
        variant, baseline = pair
        rank = 2 if controls.get(variant) == baseline else 1 if variant in mechanism_of else 0
        return order.index(mechanism_of.get(variant, variant)), rank

    return sorted(dict.fromkeys((c.variant, c.baseline) for c in analysis.comparisons), key=place)


def explanation_sources(analysis: StudyAnalysis) -> list[str]:
    """The explanation sources (one per method, ``explanations (<method>)``) that have comparisons."""
    return [s for s in dict.fromkeys(c.source for c in analysis.comparisons) if s.startswith(EXPLANATIONS)]


def grid_columns(analysis: StudyAnalysis) -> list[Column]:
    """The metrics of the primary test split, then each explanation method's scores, as compared."""
    sources = [analysis.data.test_splits[0], *explanation_sources(analysis)]
    columns = dict.fromkeys((c.source, c.comparison.metric) for c in analysis.comparisons if c.source in sources)
    return sorted(columns, key=lambda column: sources.index(column[0]))


def _lookup(analysis: StudyAnalysis) -> dict[tuple[Pair, Column], Comparison]:
    return {((c.variant, c.baseline), (c.source, c.comparison.metric)): c.comparison for c in analysis.comparisons}


def _grid_cell(comparison: Comparison | None) -> str:
    if comparison is None:
        return "n/a"
    return VerdictCell(signed(comparison.mean_difference), comparison.verdict)


def verdict_grid(analysis: StudyAnalysis) -> Table:
    """Comparisons x measures; each cell the mean paired difference and the verdict, coloured by the verdict."""
    pairs, columns, found = comparison_pairs(analysis), grid_columns(analysis), _lookup(analysis)
    rows = tuple((pair_label(pair), *(_grid_cell(found.get((pair, column))) for column in columns)) for pair in pairs)
    headers = tuple(f"{metric} {'↑' if higher_is_better(source, metric) else '↓'}" for source, metric in columns)
    groups = (("", 1), *Counter(source for source, _ in columns).items())
    caption = (
        "Each cell: the mean paired difference (variant - baseline, on the measure's own scale; ↑ higher / ↓ lower "
        "is better) and the verdict: better, worse, equivalent (within the ROPE) or undecided (see How to read "
        "this report)"
    )
    return Table(("comparison", *headers), rows, caption, groups)


def _tally(verdicts: list[str]) -> str:
    counts = Counter(verdicts)
    return ", ".join(f"{counts[verdict]} {verdict}" for verdict in VERDICTS if counts[verdict])


def finding_sentence(analysis: StudyAnalysis) -> str:
    """What the grid says, in one sentence: its verdicts counted on the primary split and on the explanation
    scores, and which comparisons are better in the headline metric (AUC-ROC, else the split's first metric)."""
    primary = analysis.data.test_splits[0]
    pairs, columns, found = comparison_pairs(analysis), grid_columns(analysis), _lookup(analysis)
    parts = []
    for what, chosen in (
        (f"comparisons on the {primary} split", [c for c in columns if c[0] == primary]),
        ("comparisons on the explanation scores", [c for c in columns if c[0] != primary]),
    ):
        verdicts = [found[pair, column].verdict for pair in pairs for column in chosen if (pair, column) in found]
        if verdicts:
            parts.append(f"{len(verdicts)} {what}, {_tally(verdicts)}")
    if not parts:
        return f"No comparison on the {primary} split or the explanation scores (see Statistics)."
    sentence = f"Of {'; of '.join(parts)}."
    headline = headline_metric(analysis)
    if headline is None:
        return sentence
    better = [
        pair_label(pair) for pair in pairs if (c := found.get((pair, (primary, headline)))) and c.verdict == "better"
    ]
    return sentence + (
        f" Better in {headline}: {', '.join(better)}." if better else f" No variant is better in {headline}."
    )


def headline_metric(analysis: StudyAnalysis) -> str | None:
    """The metric the summary headlines: AUC-ROC, else the first metric compared on the primary test split (None:
    no comparison there)."""
    primary = analysis.data.test_splits[0]
    metrics = [metric for source, metric in grid_columns(analysis) if source == primary]
    return HEADLINE_METRIC if HEADLINE_METRIC in metrics else next(iter(metrics), None)


def _by_pair(comparisons: list[VariantComparison]) -> dict[tuple, list[VariantComparison]]:
    groups: dict[tuple, list[VariantComparison]] = {}
    for item in comparisons:
        groups.setdefault((item.variant, item.baseline, item.source), []).append(item)
    return groups


def verdict_sentence(items: list[VariantComparison]) -> str:
    """One sentence on a variant against its baseline on one source, metrics grouped by verdict, each with its
    mean difference, the ROPE its verdict used and its Holm-adjusted p."""
    first = items[0]
    parts = []
    for verdict, phrase in VERDICT_PHRASES:
        chosen = [item.comparison for item in items if item.comparison.verdict == verdict]
        if chosen:
            outcomes = ", ".join(
                f"{c.metric} ({signed(c.mean_difference)}, ROPE ±{c.rope:g}, Holm p = {p_text(c.p_adjusted)})"
                for c in chosen
            )
            parts.append(f"{phrase} {outcomes}")
    pairs = max(item.comparison.n for item in items)
    return f"{first.variant} vs {first.baseline} on {first.source} ({pairs} paired seeds): {'; '.join(parts)}."


def forest_plot(analysis: StudyAnalysis, figures: FigureFolder, sources: list[str], name: str) -> list[Block]:
    """The forest plot of ``sources`` (one test split, or every explanation method): one panel per measure, as
    the ROPEs differ between measures, and in each one line per comparison in grid order."""
    chosen = [c for c in analysis.comparisons if c.source in sources]
    if not chosen:
        return []
    records = [_forest_record(item, several=len(sources) > 1) for item in chosen]
    shown = {record["row"] for record in records}
    order = [label for label in map(pair_label, comparison_pairs(analysis)) if label in shown]
    title = ", ".join(sources)
    path = figures.save(forest_figure(pd.DataFrame.from_records(records), order, title), f"forest-{name}")
    caption = (
        f"{title}: each comparison's mean paired difference (dot) with its 95 % BCa interval (line; none below 3 "
        "pairs). One panel per measure, each on its own scale, because each has its own ROPE (grey band around 0: "
        "differences inside it count as no practical difference). Dot colour and marker: the verdict."
    )
    return [Figure(path, f"forest plot of the comparisons on {title}", caption)]


def _forest_record(item: VariantComparison, *, several: bool) -> dict:
    """One line of a forest plot; its panel is the measure (and its source, when the plot shows several)."""
    c = item.comparison
    panel = f"{c.metric} ({'higher' if c.higher_is_better else 'lower'} is better)"
    return {
        "panel": f"{item.source}\n{panel}" if several else panel, "row": pair_label((item.variant, item.baseline)),
        "difference": c.mean_difference, "ci_low": c.ci_low, "ci_high": c.ci_high, "rope": c.rope,
        "verdict": c.verdict,
    }  # fmt: skip


def summary_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    data = analysis.data
    counts = ", ".join(f"{n} {status}" for status, n in data.counts.items() if n)
    baseline = ", ".join(f"{name}={value}" for name, value in data.study.baseline.items())
    seeds, stopping = f"{len(data.study.seeds)} seeds", []
    if data.study.sequential:  # the seeds its rounds ran, not the most it may run, and why they stopped
        state = read_state(data.folder)
        seeds = f"{len(state.get('seeds') or {run.seed for run in data.runs})} sequential seeds"
        stopping = [Paragraph(stop_sentence(state, data.study))]
    intro = Paragraph(
        f"Study '{data.study.name}': {len(data.variants)} variants x {seeds} ({counts} runs). "
        f"Each variant is compared with its baseline ({baseline}) over the seeds both finished; the "
        f"{len(analysis.comparisons)} comparisons below are Holm-corrected in {family_count(analysis)} families "
        f"({HOLM_FAMILIES})."
    )
    if not analysis.comparisons:
        return [
            Heading("Summary"),
            intro,
            *stopping,
            Paragraph("No variant could be compared with its baseline (see Statistics)."),
        ]
    sentences = tuple(verdict_sentence(items) for items in _by_pair(analysis.comparisons).values())
    return [
        Heading("Summary"),
        Paragraph(finding_sentence(analysis)),
        verdict_grid(analysis),
        *forest_plot(analysis, figures, data.test_splits[:1], data.test_splits[0]),
        intro,
        *stopping,
        *_holm_reach(analysis),
        Details(IN_WORDS, (Bullets(sentences),)),
    ]


def _holm_reach(analysis: StudyAnalysis) -> list[Block]:
    """A warning when the families are too large for any Wilcoxon p to survive Holm at 0.05."""
    pairs = max(c.comparison.n for c in analysis.comparisons)
    family = max(c.family_size or 1 for c in analysis.comparisons)
    smallest = 2.0 / 2**pairs
    if family * smallest < 0.05:
        return []
    return [
        Paragraph(
            f"Note: with {pairs} paired seeds the smallest possible Wilcoxon p is {smallest:.4f}; Holm multiplies "
            f"the smallest p of a family by its size (up to {family} here), so no comparison can reach p < 0.05 "
            "after correction. "
            "Read the verdicts (Bayesian test and P(A>B)), or run more seeds."
        )
    ]
