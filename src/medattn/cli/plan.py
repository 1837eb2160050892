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
    columns = ("comparison", "mean diff ± sd", "seeds now", "seeds for power", "seeds for a decision", "extra runs",
               "extra hours", "hours")  # fmt: skip
    title = f"{plan['study']}: seeds needed for {plan['metric']} on {plan['source']} (delta {plan['delta']:g})"
    table = Table(*columns, title=Text(title), caption_justify="left")
    notes = []
    for row in plan["rows"]:
        name = f"{row['variant']} vs {row['baseline']}"
        if row["note"]:
            notes.append(f"{name}: not plannable, {row['note']}")
            table.add_row(*map(Text, (name, "n/a", str(row["seeds_now"]), "n/a", "n/a", "", "", "")))
            continue
        searches = (row["power"], row["decision"])
        notes += [f"{name}: {search['note']}" for search in searches if search["note"]]
        unit = f"{row['device']}-h" if row["device"] else "h"
        cells = (
            name,
            f"{row['mean_difference']:+.4f} ± {row['sd']:.4f}",
            str(row["seeds_now"]),
            *map(_seeds, searches),
            " / ".join(_number(search["extra_runs"], "d") for search in searches),
            *(
                " / ".join(_number(search[key], ".3g") for search in searches) + f" {unit}"
                for key in ("extra_hours", "hours")
            ),
        )
        table.add_row(*map(Text, cells))
    how = "Seeds: n (simulated probability). Runs and hours: for the seeds for power / for a decision."
    table.caption = Text("\n".join([how, plan["method"], *notes]))
    return table


def _seeds(search: dict) -> str:
    if search["seeds"] is None:
        return "not reached" if search["probability"] is not None else "n/a"
    return f"{search['seeds']} ({search['probability']:.2f})"


def _number(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)
