"""The report's "What it would take to decide" section: ``medattn plan`` on the study's primary measure.

The primary measure is a sequential study's stopping metric and split (``seeds: {metric, split}``), else the metric
the Summary headlines (AUC-ROC, else the first metric compared on the primary test split). ``delta``, the true
difference the power is planned for, is that metric's ROPE (the study's ``rope:`` or its default,
:func:`medattn.study.measures.rope_of`): the smallest difference the verdict counts as a practical one. The search
goes up to :data:`MAX_SEEDS` seeds, half of ``medattn plan``'s default, which keeps the report within a few seconds
where a comparison cannot be decided (each number of seeds searched costs the P(A>B) rule's bounds and 2000
simulated verdicts); everything else is :func:`medattn.study.plan.plan_study`'s default (power 0.8, 2000 simulated
studies per number of seeds).
"""

from medattn.study.analysis import StudyAnalysis
from medattn.study.measures import rope_of
from medattn.study.plan import PLAN_COLUMNS, PLAN_READING, plan_cells, plan_study
from medattn.study.report.document import Block, Bullets, Heading, Paragraph, Table
from medattn.study.report.figures import FigureFolder
from medattn.study.report.summary import headline_metric

TITLE = "What it would take to decide"
MAX_SEEDS = 50


def primary_measure(analysis: StudyAnalysis) -> tuple[str, str | None]:
    """(split, metric) the section plans (see the module docstring); metric None when there is none."""
    rule = analysis.data.study.sequential
    if rule is not None:
        return rule.split, rule.metric
    return analysis.data.test_splits[0], headline_metric(analysis)


def decide_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    data = analysis.data
    if not data.baselines:
        return []  # no variant to compare: the Summary says so
    split, metric = primary_measure(analysis)
    seeds = len({run.seed for run in data.runs})
    baselines = set(data.baselines.items())
    compared = {(c.source, c.comparison.metric) for c in analysis.comparisons if (c.variant, c.baseline) in baselines}
    if seeds < 2:
        why = f"the study has {seeds} seed; planning needs the spread of the paired differences over at least 2"
    elif (split, metric) not in compared:
        why = f"no variant was compared with its baseline on {metric or 'a metric'} of {split} (see Statistics)"
    else:
        why = ""
    if why:
        return [Heading(TITLE), Paragraph(f"Not planned: {why}.")]
    rope = rope_of(metric, data.study.rope)
    plan = plan_study(analysis, delta=rope, metric=metric, split=split, max_seeds=MAX_SEEDS).to_dict()
    rows, notes = plan_cells(plan)
    text = (
        f"How many paired seeds each comparison of {metric} on {split} would need (`medattn plan`, with delta = "
        f"{metric}'s ROPE ±{rope:g}: the smallest difference the verdict counts as practical; `medattn plan "
        f"{data.folder} --delta D --max-seeds N` plans for another difference, up to more seeds)."
    )
    caption = f"{PLAN_READING} {plan['method']}"
    return [Heading(TITLE), Paragraph(text), Table(PLAN_COLUMNS, tuple(rows), caption),
            *([Bullets(tuple(notes))] if notes else [])]  # fmt: skip
