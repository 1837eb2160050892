"""Running the study's runs: in this process, in local worker processes, or as Ray tasks.

A task trains (or resumes) one run directory and evaluates it; it returns its outcome to the
driver, and only the driver writes the study database, so no database is shared across machines.
On a Ray cluster the study folder must be on storage every node sees (run directories and their
per-epoch checkpoints are written by the workers, as any checkpointing trainer needs).

A task holds its run directory's lock (``medattn.locks``) from its log's first line to its last OOD score, on the
host that runs it: a run directory another live process holds fails the task with that process's PID instead of
being trained twice. Ray tasks share their driver's fate (Ray ends them when the driver dies), so the next driver can
put the runs they left ``running`` back in the queue even where their hosts' locks cannot be seen from its own.
"""

import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Task:
    """One run to train and evaluate."""

    key: str
    config: dict
    run_dir: str
    threads: int = 1
    ood: tuple[dict, ...] = ()


@dataclass
class Outcome:
    """What a task reports back: ``done`` with metrics and cost, or ``failed`` with the error."""

    key: str
    status: str
    worker: str
    seconds: float
    metrics: dict = field(default_factory=dict)
    cost: dict = field(default_factory=dict)
    error: str = ""
    details: str = ""


def run_task(task: Task) -> Outcome:
    """Train/resume and evaluate one run; never raises (a failure is an Outcome)."""
    import torch

    torch.set_num_threads(max(1, task.threads))
    from medattn.study.store import worker_name

    worker = worker_name()
    start = time.perf_counter()
    try:
        metrics, cost = _train_and_evaluate(task)
    except Exception as error:  # noqa: BLE001  (a failed run is recorded and the study goes on)
        message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        return Outcome(task.key, "failed", worker, time.perf_counter() - start, error=message,
                       details=traceback.format_exc())  # fmt: skip
    return Outcome(task.key, "done", worker, time.perf_counter() - start, metrics, cost)


def _train_and_evaluate(task: Task) -> tuple[dict, dict]:
    import json

    from medattn.config import RunConfig
    from medattn.locks import hold_folder
    from medattn.study.cost import training_cost
    from medattn.train.final import test_run
    from medattn.train.report import Reporter
    from medattn.train.run import train_run

    run_dir = Path(task.run_dir)
    config = RunConfig.from_dict(task.config, f"run {task.key}")
    with hold_folder(run_dir, "run directory"):  # held from the log's first line to the last OOD score
        resume = (run_dir / "config.yaml").exists()
        with open(run_dir / "train.log", "a") as log:
            train_run(config, run_dir, resume=resume, reporter=Reporter(quiet=True, file=log))
        metrics = {p.stem.removeprefix("metrics-"): json.loads(p.read_text()) for p in run_dir.glob("metrics-*.json")}
        for entry in task.ood:
            data = {k: v for k, v in entry.items() if k in ("path", "recipe")}
            metrics[entry["name"]] = test_run(run_dir, split=entry.get("split", "test"), data=data, name=entry["name"])
        return metrics, training_cost(run_dir)


def run_local(tasks: list[Task], workers: int, on_start: Callable[[Task], None]) -> Iterator[Outcome]:
    """Outcomes as they finish: in this process for one worker, else in spawned processes, at most
    ``workers`` tasks handed out at a time (``on_start`` is called as each is handed out)."""
    if workers <= 1:
        for task in tasks:
            on_start(task)
            yield run_task(task)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    queue = list(reversed(tasks))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        running = set()
        try:
            while queue or running:
                while queue and len(running) < workers:
                    task = queue.pop()
                    on_start(task)
                    running.add(pool.submit(run_task, task))
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        except BaseException:
            for future in running:
                future.cancel()
            raise


def run_ray(tasks: list[Task], address: str | None, on_start: Callable[[Task], None]) -> Iterator[Outcome]:
    """Outcomes of Ray tasks: one per run, ``threads`` CPUs each and one GPU where the cluster has GPUs.

    Every task is submitted at once (``on_start`` then) and the cluster schedules them."""
    try:
        import ray
    except ImportError:
        from medattn.errors import ConfigError

        raise ConfigError("--executor ray needs Ray: pip install 'medattn[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    gpus_per_task = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    remote = ray.remote(run_task)
    pending = []
    for task in tasks:
        on_start(task)
        pending.append(remote.options(num_cpus=task.threads, num_gpus=gpus_per_task).remote(task))
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


def dispatch(
    tasks: list[Task], executor: str, workers: int, address: str | None, on_start: Callable[[Task], None]
) -> Iterator[Outcome]:
    """Run ``tasks`` with the chosen executor; ``on_start(task)`` as each is handed to a worker."""
    from medattn.errors import choose

    choose("executor", executor, EXECUTORS)
    if executor == "ray":
        return run_ray(tasks, address, on_start)
    return run_local(tasks, workers, on_start)
