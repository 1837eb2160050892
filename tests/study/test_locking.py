"""One study driver per folder, with real processes; runs a live process holds are neither reset nor trained again."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from medattn.locks import holder
from medattn.study.config import parse_study
from medattn.study.grid import expand_grid
from medattn.study.runner import RUNS, STORE, run_study
from medattn.study.store import StudyStore

# Two tiny runs (one seed, two variants), each a few seconds on one CPU thread.
STUDY = {
    "name": "locking",
    "data": {"synthetic_n": 60},
    "model": {"backbone": "resnet18", "preset": "rao2023", "image_size": 32},
    "train": {"epochs": 2, "batch_size": 16},
    "factors": {"attention": ["none", "se"]},
    "seeds": [0],
}
# `medattn study ...` (argv after the script), started when a line arrives on stdin: the slow imports come first,
# so the command reaches the folder while the other study still runs.
CLI_ON_CUE = """
import sys
from medattn import cli
import medattn.study.runner
print("ready", flush=True)
sys.stdin.readline()
sys.argv = ["medattn", *sys.argv[1:]]
cli.main()
"""
HOLD = """
import sys, time
from medattn.locks import hold_folder
with hold_folder(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}


def _rows(out: Path) -> dict:
    with StudyStore(out / STORE) as store:
        return {row.key: row for row in store.runs()}


def _epochs_logged(run: Path) -> list[int]:
    return [int(line.split(":")[0].split()[1]) for line in (run / "train.log").read_text().splitlines()]


def _partial_write(folder: Path, name: str) -> Path:
    """A temporary file named as ``medattn.io.write_atomic`` names them, as a kill -9 mid-write leaves it."""
    folder.mkdir(parents=True, exist_ok=True)
    descriptor, path = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(descriptor)
    return Path(path)


def test_a_second_study_on_the_same_folder_is_refused_and_the_first_runs_every_run_once(tmp_path):
    config, out = tmp_path / "study.yaml", tmp_path / "out"
    config.write_text(yaml.safe_dump(STUDY))
    arguments = ["study", str(config), "--out", str(out), "--threads", "1"]
    second = subprocess.Popen([sys.executable, "-c", CLI_ON_CUE, *arguments], env=_env(), text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    first = subprocess.Popen([sys.executable, "-m", "medattn", *arguments, "--json"], env=_env(), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert second.stdout.readline().strip() == "ready"
        _wait_for(lambda: holder(out) is not None, first)
        _, refusal = second.communicate("go\n", timeout=300)
        finished = first.communicate(timeout=600)
    finally:
        for process in (first, second):
            process.kill()
            process.wait()
    lines = refusal.strip().splitlines()
    assert second.returncode == 2 and len(lines) == 1, refusal
    assert lines[0].startswith(
        f"medattn: error: study folder {out} is in use by another medattn process (PID {first.pid}"
    )
    assert first.returncode == 0, finished[1]
    rows = _rows(out)
    assert len(rows) == 2 and all(row.status == "done" and row.attempts == 1 for row in rows.values())
    assert all(_epochs_logged(out / RUNS / key) == [1, 2] for key in rows)  # every epoch trained once


def test_a_run_a_live_process_holds_stays_running_and_is_not_trained_again(tmp_path):
    study, out = parse_study(STUDY), tmp_path / "out"
    held, free = expand_grid(study)
    with StudyStore(out / STORE) as store:  # as a driver killed alone leaves it: its worker still trains `held`
        for cell in (held, free):
            store.register(cell.key, cell.factors, cell.config.to_dict())
        store.mark_running(held.key, "local")
    worker = subprocess.Popen([sys.executable, "-c", HOLD, str(out / RUNS / held.key)], env=_env(), text=True,
                              stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert worker.stdout.readline().strip() == "held"
        its_own = _partial_write(out / RUNS / held.key, "history.csv")  # the live worker's write in progress
        left = [_partial_write(out, "results.csv"), _partial_write(out / RUNS, "x.json")]
        summary = run_study(study, out, threads=1)
        assert summary["busy"] == [{"key": held.key, "holder": f"PID {worker.pid} on {os.uname().nodename}"}]
        assert its_own.exists() and not any(path.exists() for path in left)
    finally:
        worker.kill()
        worker.wait()
    rows = _rows(out)
    assert (rows[held.key].status, rows[held.key].attempts) == ("running", 1)  # not reset, not handed out again
    assert not (out / RUNS / held.key / "train.log").exists()
    assert (rows[free.key].status, rows[free.key].attempts) == ("done", 1)
    assert run_study(study, out, threads=1)["counts"]["done"] == 2  # once its holder is gone, the next run takes it


def _wait_for(condition, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the study ended before it could be checked: {process.stderr.read()}")
        assert time.monotonic() < deadline, "the study made no progress"
        time.sleep(0.1)
