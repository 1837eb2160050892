"""``medattn study``: expand the grid, skip what is finished, run the rest, record every outcome.

Re-running the same command is the resume: finished runs are skipped, runs that were in flight
when the study was killed resume from their last completed epoch, failed runs are retried. A study
folder remembers the study definition it was made for; another definition is refused instead of
being mixed with old results.

One driver at a time: the study holds its folder's lock (``medattn.locks``) from start to end, so a
second ``medattn study`` on the same folder is refused with the first one's PID. A run directory
that another live process holds (a worker left by a driver killed alone, a ``medattn train
--resume`` started by hand) stays ``running`` and is not handed out again: it is listed as busy.

Sequential seeds (``seeds: {min, max, ...}``) run the final grid in rounds, each a batch of cells like a whole grid
(:mod:`medattn.study.sequential`); a re-run resumes the round the study was in.
"""

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from medattn.config import write_yaml
from medattn.errors import ConfigError
from medattn.locks import hold_folder, holder
from medattn.study.config import StudyConfig
from medattn.study.executor import Outcome, Task, dispatch
from medattn.study.grid import Cell, baseline_of, expand_grid
from medattn.study.store import StudyStore, worker_name

STORE = "study.sqlite"
RUNS = "runs"
SEARCH = "search"
RESULTS = "results.csv"
AUDIT = "audit.json"


@dataclass
class StudyProgress:
    """Counts the progress display shows: total, done, failed, running."""

    total: int
    done: int = 0
    failed: int = 0
    running: int = 0


def threads_per_worker(workers: int) -> int:
    """CPU threads for each of ``workers`` concurrent runs on this machine."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def open_store(out: Path, study: StudyConfig, cells: list[Cell], force: bool = False) -> StudyStore:
    """The study database with every cell registered (finished ones keep their results)."""
    out.mkdir(parents=True, exist_ok=True)
    store = StudyStore(out / STORE)
    store.check_study(study.digest(), force=force)
    write_yaml(out / "study.yaml", study.to_dict())
    for cell in cells:
        store.register(cell.key, cell.factors, cell.config.to_dict())
    return store


def has_run_directory(out: Path, key: str) -> bool:
    """Whether the run directory of ``key`` is still there (a deleted one is trained again, not counted done)."""
    return (out / RUNS / key).is_dir()


def busy_runs(store: StudyStore, out: Path) -> dict[str, str]:
    """The ``running`` runs whose directory another live process holds, with its holder (``PID N on HOST``)."""
    holders = {row.key: holder(out / RUNS / row.key) for row in store.runs("running")}
    return {key: found for key, found in holders.items() if found}


@dataclass(frozen=True)
class Execution:
    """How runs are executed: workers, executor, Ray address, threads per run, progress callback."""

    workers: int = 1
    executor: str = "local"
    address: str | None = None
    threads: int | None = None
    progress: Callable[[StudyProgress], None] | None = None


def run_study(
    study: StudyConfig,
    out: str | Path,
    *,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    force: bool = False,
    threads: int | None = None,
    progress=None,
    stage_progress=None,
) -> dict:
    """Run every unfinished cell; returns the study name, folder, counts per status and the failures.

    With a ``search`` mapping the search grid runs first in ``out/search`` (its own database and run
    directories), each variant's best setting is chosen there, and the final grid uses it.

    Args:
        study: the parsed study.
        out: the study folder (database, run directories, logs, report).
        workers: concurrent runs (local executor); CPU threads are split between them.
        executor: ``local`` or ``ray``.
        address: Ray cluster address (default: start or join a local instance).
        force: accept a study folder made for another study definition.
        threads: CPU threads per run (default: this machine's cores split between the workers).
        progress: called with a ``StudyProgress`` after every change.
        stage_progress: ``(done, total, description)`` during the dataset audit and the explanation stage.
    """
    check_data(study)
    preflight(study)
    out = Path(out)
    with hold_folder(out, "study folder"):
        return _run_stages(study, out, Execution(workers, executor, address, threads, progress), force, stage_progress)


def _run_stages(study: StudyConfig, out: Path, execution: Execution, force: bool, stage_progress) -> dict:
    """The search stage (if any), the dataset audit, the final grid (in rounds for sequential seeds) and the
    explanation stage."""
    summary = {"name": study.name, "folder": str(out)}
    chosen = None
    if study.search:
        from medattn.study.search import best_settings, run_score, search_cells, study_search

        search, cells = study_search(study), search_cells(study)
        stage = run_cells(study, cells, out / SEARCH, execution, force)
        scores = {key: run_score(out / SEARCH / RUNS / key, search.metric, search.mode) for key in stage["done"]}
        chosen = best_settings(study, cells, scores)
        chosen_rows = [{"variant": list(variant), **setting} for variant, setting in chosen.items()]
        summary["search"] = {"counts": stage["counts"], "chosen": chosen_rows}
    audit_data(study, out, stage_progress)

    def run_round(seeds: tuple[int, ...]) -> dict:
        cells = final_grid(study, chosen, seeds)
        stage = run_cells(study, cells, out, execution, force)
        return stage | {"missing": [cell.key for cell in cells if cell.key not in stage["done"]]}

    if study.sequential:
        from medattn.study.sequential import run_sequential

        stage, summary["sequential"] = run_sequential(study, out, run_round)
        seeds = tuple(summary["sequential"]["seeds"])
    else:
        stage, seeds = run_round(study.seeds), study.seeds
    summary |= {"counts": stage["counts"], "failures": stage["failures"], "results": str(out / RESULTS)}
    if stage["busy"]:
        summary["busy"] = [{"key": key, "holder": found} for key, found in stage["busy"].items()]
    if study.explain:
        from medattn.study.explain_stage import explain_study

        explained = replace(study, seeds=seeds)  # a sequential study's: the seeds its rounds ran
        summary["explanations"] = explain_study(explained, out, final_grid(study, chosen, seeds), stage["done"],
                                                stage_progress)  # fmt: skip
    return summary


def final_grid(study: StudyConfig, chosen: dict | None, seeds: tuple[int, ...]) -> list[Cell]:
    """The cells of ``seeds`` in the final grid: the study grid, with each variant's searched setting when the study
    has a search stage (``chosen``: :func:`medattn.study.search.best_settings`)."""
    of_seeds = replace(study, seeds=tuple(seeds))
    if chosen is None:
        return expand_grid(of_seeds)
    from medattn.study.search import final_cells

    return final_cells(of_seeds, chosen)


def check_data(study: StudyConfig) -> None:
    """A recipe names a real dataset: without a path the runs would silently use synthetic images."""
    if study.data.get("recipe") and not study.data.get("path"):
        raise ConfigError(
            f"study '{study.name}': data.recipe '{study.data['recipe']}' needs the dataset's folder; pass --data PATH"
        )


def preflight(study: StudyConfig) -> None:
    """Every check the study can get before its folder is made and anything trains: each cell's resolved settings
    (the search grid's too), the baseline, the explanation settings."""
    if study.search:
        from medattn.study.search import search_cells

        search_cells(study)
    cells = [cell for cell in expand_grid(study) if cell.factors["seed"] == study.seeds[0]]
    if study.sequential and not any(baseline_of(cell, cells, study.baseline) for cell in cells):
        raise ConfigError(
            f"study '{study.name}': sequential seeds stop on the comparisons with the baseline, and no variant has "
            "one; add the baseline's value to the factors (baseline:) or give a list of seeds"
        )
    if study.explain:
        from medattn.study.explain_stage import explain_settings

        explain_settings(study)


def audit_data(study: StudyConfig, out: Path, progress=None) -> None:
    """The dataset audit of a real dataset, once per study folder (``audit.json``, shown by the report)."""
    path = study.data.get("path")
    if not path or (out / AUDIT).is_file():
        return
    from medattn.data.audit import audit_source
    from medattn.data.sources import open_source
    from medattn.io import write_json_atomic

    source = open_source(path, study.data.get("recipe"))
    update = progress and (lambda done, total: progress(done, total, "auditing the dataset"))
    write_json_atomic(out / AUDIT, audit_source(source, progress=update))


def run_cells(study: StudyConfig, cells: list[Cell], out: Path, execution: Execution, force: bool) -> dict:
    """Run the unfinished ``cells`` in ``out``; their counts, failures, the keys of finished runs and the busy runs
    (held by another live process: left out)."""
    with open_store(out, study, cells, force) as store:
        finished = {row.key for row in store.runs("done") if has_run_directory(out, row.key)}  # a deleted one reruns
        busy = busy_runs(store, out)
        store.reset_stale(keep=set(busy))  # runs left "running" by a killed study go back in the queue
        threads = execution.threads or threads_per_worker(execution.workers if execution.executor == "local" else 1)
        tasks = [
            Task(cell.key, cell.config.to_dict(), str(out / RUNS / cell.key), threads, tuple(study.ood))
            for cell in cells
            if cell.key not in finished and cell.key not in busy
        ]
        state = StudyProgress(total=len(cells), done=len(finished), running=len(busy))
        _report(execution.progress, state)
        in_process = execution.executor == "local" and execution.workers == 1

        def start(task: Task) -> None:
            store.mark_running(task.key, worker_name() if in_process else execution.executor)
            state.running += 1
            _report(execution.progress, state)

        for outcome in dispatch(tasks, execution.executor, execution.workers, execution.address, start):
            _record(store, outcome, state)
            _report(execution.progress, state)
        failures = [{"key": row.key, "cell": row.cell, "error": row.error} for row in store.runs("failed")]
        done = {row.key for row in store.runs("done")}
        store.export(out / RESULTS)  # one row per run: factors, status, metrics, cost (for pandas)
        return {"counts": store.counts(), "failures": failures, "done": done, "busy": busy}


def _record(store: StudyStore, outcome: Outcome, state: StudyProgress) -> None:
    state.running -= 1
    if outcome.status == "done":
        store.mark_done(outcome.key, outcome.metrics, outcome.cost, outcome.seconds)
        state.done += 1
    elif outcome.error.startswith(_DISK_ERRORS):  # not the run's fault, and every later run would fail too
        raise ConfigError(
            f"run {outcome.key}: {outcome.error.split(': ', 1)[1]}; the study stopped: free some space (or make the "
            "folder writable) and run the same command again (finished runs are kept, this one is retried)"
        )
    else:
        store.mark_failed(outcome.key, outcome.error, outcome.details, outcome.seconds)
        state.failed += 1


# the error lines of runs that failed on a full disk, a full quota or a read-only file system (executor.run_task's)
_DISK_ERRORS = tuple(f"{name}: [Errno {code}]" for name in ("OSError", "PermissionError")
                     for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS))  # fmt: skip


def _report(progress, state: StudyProgress) -> None:
    if progress:
        progress(state)
