"""``medattn report``: the command-line side of medattn.study.report."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from medattn.cli.output import console, emit


def report_command(
    study_dir: Annotated[Path, typer.Argument(help="Study folder written by `medattn study`.")],
    out: Annotated[Path | None, typer.Option(help="Report folder (default: STUDY_DIR/report).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Write the study's report: one self-contained HTML page, the same in Markdown, and its figures."""
    from medattn.study.report import write_report

    summary = write_report(study_dir, out)
    emit(summary, as_json, _comparisons_table(summary))
    if not as_json:
        paths = f"report: {summary['html']}\nmarkdown: {summary['markdown']}"
        console.print(paths, markup=False, highlight=False, soft_wrap=True)  # paths stay whole, to copy


def _comparisons_table(summary: dict) -> Table:
    """One row per comparison; data strings are Text, so brackets in factor values are not read as markup."""
    runs = ", ".join(f"{n} {status}" for status, n in summary["runs"].items() if n)
    columns = ("variant", "baseline", "source", "metric", "pairs", "mean diff", "Holm p", "verdict")
    table = Table(*columns, title=Text(f"{summary['study']}: {runs} runs"))
    for item in summary["comparisons"]:
        p = item["p_adjusted"]
        holm = "n/a" if p is None else f"{p:.3f} {item['mark']}".rstrip()
        cells = (item["variant"], item["baseline"], item["source"], item["metric"], str(item["n"]),
                 f"{item['mean_difference']:+.3f}", holm, item["verdict"])  # fmt: skip
        table.add_row(*map(Text, cells))
    if summary["not_compared"]:
        table.caption = Text("not compared: " + "; ".join(summary["not_compared"]))
    return table
