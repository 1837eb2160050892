"""``medattn study``: run a whole experiment grid from one YAML file (or a shipped preset)."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medattn.cli_output import console, emit
from medattn.errors import ConfigError

Opt = typer.Option


def study_command(
    config: Annotated[str, typer.Argument(help="Study YAML file, or the name of a shipped study (quickstart ...).")],
    out: Annotated[Path, Opt(help="Study folder: database, run directories, logs, report.")],
    data: Annotated[str | None, Opt(help="Dataset path replacing data.path (run a preset on your data).")] = None,
    workers: Annotated[int, Opt(help="Concurrent runs on this machine; CPU threads are split between them.")] = 1,
    executor: Annotated[str, Opt(help="local | ray.")] = "local",
    address: Annotated[str | None, Opt(help="Ray cluster address (default: a local Ray instance).")] = None,
    threads: Annotated[int | None, Opt(help="CPU threads per run (default: cores / workers).")] = None,
    force: Annotated[bool, Opt("--force", help="Use a folder made for another study definition.")] = False,
    as_json: Annotated[bool, Opt("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run every unfinished run of the study grid; re-running the same command resumes it."""
    from medattn.progress import progress_callback
    from medattn.study.config import load_study
    from medattn.study.runner import run_study

    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    study = load_study(config, data=data)
    with progress_callback("runs", quiet=as_json) as update:

        def show(state) -> None:
            update(state.done + state.failed, state.total, f"runs ({state.running} running, {state.failed} failed)")

        summary = run_study(study, out, workers=workers, executor=executor, address=address, force=force,
                            threads=threads, progress=show)  # fmt: skip
    emit(summary, as_json, _summary_table(summary))
    if not as_json:
        console.print(f"study folder: {out} (per-run logs in {out}/runs/*/train.log)")
    if summary["counts"].get("failed"):
        raise typer.Exit(1)


def _summary_table(summary: dict) -> Table:
    table = Table("status", "runs", title=f"study {summary['name']}")
    for status, count in summary["counts"].items():
        table.add_row(status, str(count))
    for failure in summary["failures"]:
        table.add_row("[red]failed[/red]", f"{failure['key']}: {failure['error']}")
    return table
