"""``medattn study``: run a whole experiment grid from one YAML file (or a shipped preset)."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medattn.cli.output import console, emit

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
    from medattn.study.config import load_study
    from medattn.validation import check_options

    check_options("study", workers=workers, threads=threads)
    study = load_study(config, data=data)
    summary = _run(study, out, as_json, workers=workers, executor=executor, address=address, force=force,
                   threads=threads)  # fmt: skip
    emit(summary, as_json, _summary_table(summary))
    if not as_json:
        if study.sequential:
            from medattn.study.sequential import stop_sentence

            console.print(stop_sentence(summary["sequential"], study), markup=False, highlight=False)
        console.print(f"study folder: {out} (per-run logs in {out}/runs/*/train.log); next: medattn report {out}")
    if summary["counts"].get("failed"):
        raise typer.Exit(1)


def demo_command(
    out: Annotated[Path, Opt(help="Study folder (re-running on the same folder resumes).")] = Path("runs/demo"),
    workers: Annotated[int | None, Opt(help="Concurrent runs (default: 2 where there are 2 cores).")] = None,
    force: Annotated[bool, Opt("--force", help="Use a folder made by another version of the demo.")] = False,
    as_json: Annotated[bool, Opt("--json", help="Print one JSON object (the finding under 'finding').")] = False,
) -> None:
    """The demo study, 80-120 s on 2 cores: resnet18 with and without CBAM, 3 seeds, on the synthetic
    lesion benchmark whose test split breaks the shortcut marker; Grad-CAM and saliency with their scores; the
    report. Ends with the report's path and the finding: the AUC lost where the marker is broken, and each map's
    relevance on the lesion beside a uniform map's. The full quickstart: medattn study quickstart."""
    import os

    from medattn.study.config import load_study
    from medattn.study.finding import demo_finding
    from medattn.study.report import write_report
    from medattn.validation import check_options

    check_options("demo", workers=workers)
    workers = workers or min(2, os.cpu_count() or 1)
    threads = 1 if workers > 1 else None
    summary = _run(load_study("demo"), out, as_json, workers=workers, threads=threads, force=force)
    summary["report"] = write_report(out)
    summary["finding"] = demo_finding(out)
    emit(summary, as_json, _summary_table(summary))
    if not as_json:
        report = f"report: {summary['report']['html']} (open it in a browser; Markdown beside it)"
        console.print(report, markup=False, highlight=False, soft_wrap=True)  # the path stays whole, to copy
        for line in summary["finding"]:
            console.print(line, markup=False, highlight=False, soft_wrap=True)


def _run(study, out: Path, quiet: bool, **options) -> dict:
    """run_study with one progress bar: audit, runs (done/running/failed, ETA), explanation stage."""
    from medattn.progress import progress_callback
    from medattn.study.runner import run_study

    with progress_callback("runs", quiet=quiet) as update:

        def show(state) -> None:
            update(state.done + state.failed, state.total, f"runs ({state.running} running, {state.failed} failed)")

        return run_study(study, out, progress=show, stage_progress=update, **options)


def _summary_table(summary: dict) -> Table:
    table = Table("status", "runs", title=f"study {summary['name']}")
    for status, count in summary["counts"].items():
        table.add_row(status, str(count))
    for failure in summary["failures"]:
        table.add_row("[red]failed[/red]", f"{failure['key']}: {failure['error']}")
    return table
