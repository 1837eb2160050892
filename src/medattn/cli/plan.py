"""``medattn plan``: the command-line side of medattn.study.plan."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from medattn.cli.output import emit

Opt = typer.Option


def plan_command(
    study_dir: Annotated[Path, typer.Argument(help="Study folder written by `medattn study`.")],
    delta: Annotated[float, Opt(help="True mean paired difference to detect, in the metric's units.")] = 0.01,
    power: Annotated[float, Opt(help="Probability wanted of a significant test, and of a verdict.")] = 0.8,
    metric: Annotated[str, Opt(help="Metric (or explanation score) whose comparisons are planned.")] = "auc_roc",
    split: Annotated[str, Opt(help="Test split (test or an OOD set's name), or explanation source.")] = "test",
    max_seeds: Annotated[int, Opt(help="Most seeds searched.")] = 100,
    as_json: Annotated[bool, Opt("--json", help="Print one JSON object.")] = False,
) -> None:
    """How many seeds each variant-vs-baseline comparison needs: for the power to detect --delta with the
    Holm-adjusted Wilcoxon test, for a verdict of the Bayesian test, and the runs and hours they cost
    (simulated with the study's own tests)."""
    from medattn.progress import progress_callback
    from medattn.study.analysis import analyse_study
    from medattn.study.plan import plan_study
    from medattn.validation import check_options

    check_options("plan", delta=delta, power=power, max_seeds=max_seeds)  # before the analysis, which takes a while
    analysis = analyse_study(study_dir)
    with progress_callback("planning", quiet=as_json) as update:
        plan = plan_study(analysis, delta=delta, power=power, metric=metric, split=split, max_seeds=max_seeds,
                          progress=update)  # fmt: skip
    summary = plan.to_dict()
    emit(summary, as_json, plan_table(summary))


def plan_table(plan: dict) -> Table:
    """One row per comparison; the caption states the method and why a search found no number of seeds."""
    from medattn.study.plan import PLAN_COLUMNS, PLAN_READING, plan_cells

    title = f"{plan['study']}: seeds needed for {plan['metric']} on {plan['source']} (delta {plan['delta']:g})"
    table = Table(*PLAN_COLUMNS, title=Text(title), caption_justify="left")
    rows, notes = plan_cells(plan)
    for row in rows:
        table.add_row(*map(Text, row))
    table.caption = Text("\n".join([PLAN_READING, plan["method"], *notes]))
    return table
