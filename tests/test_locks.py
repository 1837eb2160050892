"""Folder locks with real processes: refusal naming the holder, release on kill -9, `train`/`test` on a held run."""

import contextlib
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from medattn.errors import ConfigError
from medattn.explain.runs import load_runs
from medattn.locks import LOCK_FILE, hold_folder, holder
from medattn.train.final import test_run as score_run

# Holds the folder's lock, forks a child that sleeps on (a data-loading worker outliving its parent), says so, waits.
HOLD_AND_FORK = """
import os, sys, time
from medattn.locks import hold_folder
with hold_folder(sys.argv[1]):
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    print("held", flush=True)
    time.sleep(60)
"""
TINY = ["--synthetic-n", "60", "--image-size", "32", "--batch-size", "16", "--backbone", "resnet18", "--quiet"]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Runs here and in the processes started here decode (and write synthetic data) into the test's own cache."""
    monkeypatch.setenv("MEDATTN_CACHE", str(tmp_path / "cache"))


def medattn(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medattn", *args], capture_output=True, text=True, env=_env())


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}


def _python(code: str, *args: str, **options) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], env=_env(), text=True, **options)


def _partial_write(folder: Path, name: str) -> Path:
    """A temporary file named as ``medattn.io.write_atomic`` names them, as a kill -9 mid-write leaves it."""
    folder.mkdir(parents=True, exist_ok=True)
    descriptor, path = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(descriptor)
    return Path(path)


def _one_line_refusal(result: subprocess.CompletedProcess, pid: int) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert f"PID {pid} on" in lines[0] and "Traceback" not in result.stderr
    return lines[0]


def test_a_second_process_is_refused_in_one_line_naming_the_holders_pid(tmp_path):
    refuse = "from medattn.locks import hold_folder\nwith hold_folder(__import__('sys').argv[1], 'run directory'): pass"
    with hold_folder(tmp_path / "run"):
        second = _python(refuse, str(tmp_path / "run"), stderr=subprocess.PIPE)
        _, error = second.communicate(timeout=60)
        assert holder(tmp_path / "run") is None  # this process's own lock is not "another process"
    assert second.returncode == 1 and error.strip().splitlines()[-1].endswith(
        f"ConfigError: run directory {tmp_path / 'run'} is in use by another medattn process "
        f"(PID {os.getpid()} on {os.uname().nodename}); wait for it to finish or stop it"
    )


def test_kill_9_of_the_holder_releases_the_lock_even_while_its_forked_child_lives(tmp_path):
    process = _python(HOLD_AND_FORK, str(tmp_path), stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert process.stdout.readline().strip() == "held"
        assert holder(tmp_path) == f"PID {process.pid} on {os.uname().nodename}"
        with pytest.raises(ConfigError, match=f"PID {process.pid} on"), hold_folder(tmp_path):
            pass
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert holder(tmp_path) is None  # the forked child still runs (same process group) but holds nothing
        with hold_folder(tmp_path):
            assert (tmp_path / LOCK_FILE).read_text().startswith(f"PID {os.getpid()} on")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    with hold_folder(tmp_path), hold_folder(tmp_path / "." / ""):
        pass
    with hold_folder(tmp_path):  # the inner release did not end the outer hold, and the outer one ended
        pass


def test_a_folder_created_for_the_lock_alone_is_removed_again(tmp_path):
    with pytest.raises(ConfigError, match="refused later"), hold_folder(tmp_path / "new" / "run"):
        raise ConfigError("refused later")
    assert list(tmp_path.iterdir()) == []
    with hold_folder(tmp_path / "kept"):
        (tmp_path / "kept" / "config.yaml").write_text("x")
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == [LOCK_FILE, "config.yaml"]


def test_partial_writes_are_removed_once_held_but_not_in_sub_folders_with_their_own_lock(tmp_path):
    left = [_partial_write(tmp_path, "results.csv"), _partial_write(tmp_path / "checkpoints", "last.safetensors")]
    with hold_folder(tmp_path / "runs" / "other"):
        other = _partial_write(tmp_path / "runs" / "other", "history.csv")
    kept = tmp_path / ".notes.tmp"  # not a write_atomic name
    kept.write_text("mine")
    with hold_folder(tmp_path):
        assert not any(path.exists() for path in left)
        assert other.exists() and kept.exists()


def test_a_path_that_cannot_be_a_folder_is_refused_in_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    refused = pytest.raises(ConfigError, match="^cannot lock run directory .*file/run: Not a directory$")
    with refused, hold_folder(tmp_path / "file" / "run", "run directory"):
        pass


def test_train_resume_test_and_explain_of_a_run_in_training_are_refused_and_kill_9_frees_it(tmp_path):
    run = tmp_path / "run"
    training = subprocess.Popen([sys.executable, "-m", "medattn", "train", "--out", str(run), "--epochs", "60", *TINY],
                                env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait_for_epochs(run, training, 1)
        resumed = medattn("train", "--resume", str(run), "--quiet")
        assert _one_line_refusal(resumed, training.pid).startswith(
            f"medattn: error: run directory {run} is in use by another medattn process"
        )
        with pytest.raises(ConfigError, match=f"PID {training.pid} on"):
            score_run(run)  # it would write its predictions and metrics into the run being trained
        with pytest.raises(ConfigError, match=f"PID {training.pid} on"):
            load_runs([run])  # explaining it would explain a half-trained model
        assert training.poll() is None, "the run ended before the refusals were checked"
        left = _partial_write(run / "checkpoints", "last.safetensors")
        epochs = len(_history(run))
    finally:
        training.kill()
        training.wait()
    assert [int(row["epoch"]) for row in _history(run)][:epochs] == list(range(1, epochs + 1))  # trained once
    assert "auc_roc" in score_run(run)  # the lock died with its holder
    assert not left.exists()


def test_resume_removes_the_partial_writes_a_kill_left_in_the_run_directory(tmp_path):
    run = tmp_path / "run"
    assert medattn("train", "--out", str(run), "--epochs", "1", *TINY).returncode == 0
    left = [_partial_write(run, "history.csv"), _partial_write(run / "checkpoints", "last.trainer.pt")]
    resumed = medattn("train", "--resume", str(run), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert not any(path.exists() for path in left)


def _history(run: Path) -> list[dict]:
    with open(run / "history.csv") as handle:
        return list(csv.DictReader(handle))


def _wait_for_epochs(run: Path, process: subprocess.Popen, epochs: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ((run / "history.csv").exists() and len(_history(run)) >= epochs):
        if process.poll() is not None:
            raise AssertionError(f"the run ended before it could be checked: {process.stderr.read()}")
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.2)
