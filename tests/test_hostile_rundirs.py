"""Damaged or foreign run directories and study folders, and operating-system errors, against the CLI.

Every case must end with exit code 2 and one stderr line ``medattn: error: ...`` naming the file and the problem, no
traceback, and every file that was there before unchanged (content of small files; size and inode of checkpoints).
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from .cli_helpers import run_cli

TINY = ["--image-size", "32", "--batch-size", "16", "--backbone", "resnet18", "--quiet"]
PREFIX = "medattn: error: "


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished one-epoch run, made once (copied, big files hard-linked, by each test)."""
    root = tmp_path_factory.mktemp("trained")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path),
           "MEDATTN_CACHE": str(root / "cache")}  # fmt: skip
    for command in (
        ["synth", root / "data", "--n", "60", "--size", "32"],
        ["train", "--out", root / "run", "--data", root / "data", "--epochs", "1", *TINY],
    ):
        made = subprocess.run([sys.executable, "-m", "medattn", *map(str, command)], capture_output=True, text=True,
                              env=env)  # fmt: skip
        assert made.returncode == 0, made.stderr
    return root


@pytest.fixture
def run(trained, tmp_path, monkeypatch) -> Path:
    """A private copy of the trained run (big files hard-linked: damage replaces files, never edits them)."""
    monkeypatch.setenv("MEDATTN_CACHE", str(trained / "cache"))

    def copy(source, target):
        if Path(source).suffix in (".safetensors", ".pt"):
            os.link(source, target)
        else:
            shutil.copy2(source, target)

    copy_of = tmp_path / "run"
    shutil.copytree(trained / "run", copy_of, copy_function=copy, ignore=shutil.ignore_patterns(".medattn.lock"))
    return copy_of


def snapshot(folder: Path) -> dict:
    """File -> content hash (small files) or (size, inode) (checkpoints), lock files left out."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != ".medattn.lock":
            stat = path.stat()
            small = stat.st_size < 1_000_000
            found[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest() if small else (
                stat.st_size, stat.st_ino)  # fmt: skip
    return found


def assert_one_line_error(code: int, err: str, *fragments: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (code, err)
    assert lines[0].startswith(PREFIX) and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def _replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def _edit_config(run: Path, section: str, key: str, value) -> None:
    config = yaml.safe_load((run / "config.yaml").read_text())
    config[section][key] = value
    _replace(run / "config.yaml", yaml.safe_dump(config).encode())


def _state(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.state.pt", weights_only=True)


def _save_state(run: Path, state) -> None:
    (run / "checkpoints" / "last.state.pt").unlink()
    torch.save(state, run / "checkpoints" / "last.state.pt")


def _foreign_model_state(run: Path) -> None:
    state = _state(run)
    state["model"] = {"stem.weight": torch.zeros(3)}
    _save_state(run, state)


def _foreign_optimiser_state(run: Path) -> None:
    state = _state(run)
    state["optimizer"]["param_groups"].append(dict(state["optimizer"]["param_groups"][0]))
    _save_state(run, state)


def _truncate(path: Path, size: int) -> None:
    data = path.read_bytes()[:size]
    _replace(path, data)


STATE = "checkpoints/last.state.pt"
BEST = "checkpoints/best-val.safetensors"
# case -> (damage, commands it is tried with, file named, problem named)
RUN_CASES = {
    "config-binary": (lambda r: _replace(r / "config.yaml", bytes(range(256)) * 4), "train test explain",
                      "config.yaml", "not a text file"),
    "config-epochs-abc": (lambda r: _edit_config(r, "train", "epochs", "abc"), "train test explain",
                          "config.yaml", "epochs"),
    "config-epochs-2.5": (lambda r: _edit_config(r, "train", "epochs", 2.5), "train test explain",
                          "config.yaml", "epochs"),
    "config-momentum-negative": (lambda r: _edit_config(r, "train", "momentum", -1), "train test explain",
                                 "config.yaml", "momentum"),
    "config-a-list": (lambda r: _replace(r / "config.yaml", b"- 1\n- 2\n"), "train test explain",
                      "config.yaml", "mapping"),
    "config-section-not-a-mapping": (lambda r: _replace(r / "config.yaml", b"model: 3\n"), "train test explain",
                                     "config.yaml", "model"),
    "config-attention-a-mapping": (lambda r: _edit_config(r, "model", "attention", {"x": 1}), "train test explain",
                                   "config.yaml", "attention"),
    "config-missing": (lambda r: (r / "config.yaml").unlink(), "train test explain", "run", "no config.yaml"),
    "state-truncated": (lambda r: _truncate(r / STATE, 4096), "train", STATE, "damaged, truncated"),
    "state-random-bytes": (lambda r: _replace(r / STATE, os.urandom(5000)), "train", STATE, "damaged, truncated"),
    "state-foreign-mapping": (lambda r: _save_state(r, {"a": 1}), "train", STATE, "without its 'epoch'"),
    "state-a-list": (lambda r: _save_state(r, [1, 2]), "train", STATE, "not a medattn trainer state"),
    "state-without-optimiser": (lambda r: _save_state(r, {k: v for k, v in _state(r).items() if k != "optimizer"}),
                                "train", STATE, "without its 'optimizer'"),
    "state-of-another-architecture": (_foreign_model_state, "train", STATE, "another architecture"),
    "state-of-another-optimiser": (_foreign_optimiser_state, "train", STATE, "optimiser or schedule state"),
    "checkpoint-truncated": (lambda r: _truncate(r / BEST, 1000), "train test explain", BEST, "not a safetensors"),
    "checkpoint-of-another-architecture": (
        lambda r: (r / BEST).unlink() or save_file({"w": torch.zeros(3)}, str(r / BEST)), "train test explain", BEST,
        "another architecture"),
    "checkpoint-missing": (lambda r: (r / BEST).unlink(), "train test explain", "best-val", "checkpoint"),
    "predictions-val-binary": (lambda r: _replace(r / "predictions-val.csv", os.urandom(3000)), "test-external",
                               "predictions-val.csv", "damaged predictions file"),
}  # fmt: skip


def _command(command: str, run: Path, tmp_path: Path) -> list:
    if command == "train":
        return ["train", "--resume", run, "--quiet"]
    if command == "test":
        return ["test", run]
    if command == "test-external":  # another dataset's split is scored with the run's own val threshold
        return ["test", run, "--data", _external_data(tmp_path)]
    return ["explain", run, "--method", "saliency", "--n", "1", "--out", tmp_path / "explained"]


def _external_data(tmp_path: Path) -> Path:
    from medattn.data.synthetic import write_synthetic_dataset

    write_synthetic_dataset(tmp_path / "other", 60, 32, seed=1)
    return tmp_path / "other"


@pytest.mark.parametrize(
    ("case", "command"),
    [(case, command) for case, (_, commands, *_) in RUN_CASES.items() for command in commands.split()],
)
def test_a_damaged_run_directory_is_one_line_exit_2_and_left_as_it_was(capsys, monkeypatch, tmp_path, run, case,
                                                                      command):  # fmt: skip
    damage, _, named, problem = RUN_CASES[case]
    damage(run)
    before = snapshot(run)
    code, _, err = run_cli(capsys, monkeypatch, *_command(command, run, tmp_path))
    line = assert_one_line_error(code, err, problem)
    assert named in line, (named, line)
    assert snapshot(run) == before


@pytest.mark.parametrize("command", ["train", "test", "explain"])
def test_a_damaged_env_json_is_not_read_and_not_touched(capsys, monkeypatch, tmp_path, run, command):
    _replace(run / "env.json", b"{not json\xff")
    code, _, err = run_cli(capsys, monkeypatch, *_command(command, run, tmp_path))
    assert code == 0, err
    assert (run / "env.json").read_bytes() == b"{not json\xff"


@pytest.mark.parametrize("command", ["train", "test", "explain"])
def test_a_damaged_history_is_not_read_and_not_touched(capsys, monkeypatch, tmp_path, run, command):
    damaged = os.urandom(500)
    _replace(run / "history.csv", damaged)  # the trainer state holds the history a resume continues from
    code, _, err = run_cli(capsys, monkeypatch, *_command(command, run, tmp_path))
    assert code == 0, err
    assert (run / "history.csv").read_bytes() == damaged


# Writes a trainer state's temporary file through medattn.io.write_atomic and is killed (-9) in the middle of it.
KILLED_MID_WRITE = """
import sys, time
from pathlib import Path
from medattn.io import write_atomic

def write(tmp):
    Path(tmp).write_bytes(b"half a checkpoint")
    print(tmp, flush=True)
    time.sleep(120)

write_atomic(Path(sys.argv[1]) / "checkpoints" / "last.state.pt", write)
"""


def test_a_temporary_file_left_by_kill_9_is_removed_by_the_next_resume(capsys, monkeypatch, run):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writer = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, str(run)], stdout=subprocess.PIPE, text=True,
                              env=env)  # fmt: skip
    try:
        left = Path(writer.stdout.readline().strip())
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    assert left.is_file() and left.parent == run / "checkpoints"
    state = (run / STATE).stat()
    code, _, err = run_cli(capsys, monkeypatch, "train", "--resume", run, "--quiet")
    assert code == 0, err
    assert not left.exists() and not list(run.rglob("*.tmp"))
    assert (run / STATE).stat().st_ino == state.st_ino  # the finished run's state was neither replaced nor lost


STUDY = {
    "name": "hostile",
    "data": {"synthetic_n": 60},
    "model": {"backbone": "resnet18", "preset": "rao2023", "image_size": 32},
    "train": {"epochs": 1, "batch_size": 16},
    "factors": {"attention": ["none", "se"]},
    "seeds": [0],
}


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory) -> Path:
    """A finished two-run study folder (and its study.yaml beside it), made once."""
    root = tmp_path_factory.mktemp("study")
    (root / "study.yaml").write_text(yaml.safe_dump(STUDY))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path),
           "MEDATTN_CACHE": str(root / "cache")}  # fmt: skip
    made = subprocess.run([sys.executable, "-m", "medattn", "study", str(root / "study.yaml"), "--out",
                           str(root / "out"), "--threads", "1"], capture_output=True, text=True, env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    return root


@pytest.fixture
def study(finished_study, tmp_path, monkeypatch) -> Path:
    """A private copy of the finished study folder."""
    monkeypatch.setenv("MEDATTN_CACHE", str(finished_study / "cache"))
    shutil.copytree(finished_study / "out", tmp_path / "out", ignore=shutil.ignore_patterns(".medattn.lock"))
    return tmp_path / "out"


def _sql(study: Path, statement: str) -> None:
    import sqlite3

    connection = sqlite3.connect(study / "study.sqlite")
    with connection:
        connection.execute(statement)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def _first_key(study: Path) -> str:
    return sorted(path.name for path in (study / "runs").iterdir())[0]


STUDY_CASES = {
    "sqlite-random-bytes": (lambda s: _replace(s / "study.sqlite", os.urandom(20_000)), "study.sqlite",
                            "damaged or not a study database"),
    "sqlite-truncated": (lambda s: _truncate(s / "study.sqlite", 5000), "study.sqlite", "damaged"),
    "sqlite-a-text-file": (lambda s: _replace(s / "study.sqlite", b"key,status\n"), "study.sqlite", "damaged"),
    "row-metrics-invalid-json": (lambda s: _sql(s, "UPDATE runs SET metrics = '{\"test\": ' WHERE rowid = 1"),
                                 "study.sqlite", "'metrics' column is not valid JSON"),
    "row-cell-not-a-mapping": (lambda s: _sql(s, "UPDATE runs SET cell = '[1, 2]'"), "study.sqlite",
                               "'cell' column is not valid JSON of a dict"),
    "history-binary": (lambda s: _replace(s / "runs" / _first_key(s) / "history.csv", bytes(range(256)) * 8),
                       "history.csv", "damaged history file"),
}  # fmt: skip


def _study_command(command: str, study: Path) -> list:
    if command == "study":
        return ["study", study.parent / "study.yaml", "--out", study, "--threads", "1"]
    return ["report", study]


@pytest.mark.parametrize(
    ("case", "command"),
    [(case, command) for case in STUDY_CASES for command in ("study", "report") if case != "history-binary"]
    + [("history-binary", "report")],
)
def test_a_damaged_study_folder_is_one_line_exit_2_and_left_as_it_was(capsys, monkeypatch, tmp_path, study, case,
                                                                      command):  # fmt: skip
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    damage, named, problem = STUDY_CASES[case]
    damage(study)
    before = snapshot(study)
    code, _, err = run_cli(capsys, monkeypatch, *_study_command(command, study))
    line = assert_one_line_error(code, err, named, problem)
    assert str(study) in line
    assert snapshot(study) == before


def test_a_run_directory_deleted_after_it_was_done_is_reported_missing_then_trained_again(capsys, monkeypatch,
                                                                                         tmp_path, study):  # fmt: skip
    import json

    from medattn.study.store import StudyStore

    gone = _first_key(study)
    shutil.rmtree(study / "runs" / gone)
    code, out, err = run_cli(capsys, monkeypatch, "report", study, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["runs"] == {"done": 1, "failed": 0, "pending": 0, "running": 0, "missing": 1}
    report = (study / "report" / "report.md").read_text()
    assert f"lost their run directory ({gone})" in report
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    code, _, err = run_cli(capsys, monkeypatch, "study", tmp_path / "study.yaml", "--out", study, "--threads", "1")
    assert code == 0, err
    assert (study / "runs" / gone / "metrics-test.json").is_file()
    with StudyStore(study / "study.sqlite") as store:
        assert store.run(gone).status == "done" and store.run(gone).attempts == 2
    code, out, err = run_cli(capsys, monkeypatch, "report", study, "--json")
    assert code == 0 and json.loads(out)["runs"] == {"done": 2, "failed": 0, "pending": 0, "running": 0}


@pytest.fixture
def mounts(tmp_path):
    """``small``: a 1 MiB tmpfs (full after a few writes); ``ro``: a read-only tmpfs. Real mounts (the tests run as
    root, which a chmod'ed folder does not stop); skipped where they cannot be mounted."""
    made = []
    for name, options in (("small", "size=1m"), ("ro", "size=1m,ro")):
        (tmp_path / name).mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(tmp_path / name)],
                                capture_output=True)  # fmt: skip
        if result.returncode != 0:
            for mount in made:
                subprocess.run(["umount", str(mount)], check=True)
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
        made.append(tmp_path / name)
    try:
        yield tmp_path
    finally:
        for mount in made:
            subprocess.run(["umount", str(mount)], check=True)


def _os_commands(tmp: Path, run: Path, study: Path, target: str) -> dict:
    """command -> argv writing to ``tmp/target``."""
    out = tmp / target
    return {
        "synth": ["synth", out, "--n", "2000", "--size", "64"],
        "train": ["train", "--out", out, "--epochs", "1", *TINY, "--synthetic-n", "60"],
        "study": ["study", study.parent / "study.yaml", "--out", out, "--threads", "1"],
        "explain": ["explain", run, "--method", "saliency", "--n", "1", "--out", out],
        "report": ["report", study, "--out", out],
    }


@pytest.mark.parametrize("command", ["synth", "train", "study", "explain", "report"])
@pytest.mark.parametrize("where", ["inside-a-file", "a-file", "read-only"])
def test_an_unwritable_out_is_one_line_exit_2_naming_it(capsys, monkeypatch, mounts, run, study, command, where):
    if where == "a-file" and command in ("synth", "train"):
        pytest.skip("refused before this change too (tested in tests/test_cli.py and tests/test_locks.py)")
    (mounts / "a-file").write_text("kept")
    (study.parent / "study.yaml").write_text(yaml.safe_dump(STUDY))
    target = {"inside-a-file": "a-file/out", "a-file": "a-file", "read-only": "ro/out"}[where]
    before = snapshot(run) | snapshot(study)
    code, _, err = run_cli(capsys, monkeypatch, *_os_commands(mounts, run, study, target)[command])
    line = assert_one_line_error(code, err, str(mounts / target.split("/")[0]))
    problems = {"inside-a-file": ("not a folder", "Not a directory"), "a-file": ("not a folder", "File exists"),
                "read-only": ("read-only file system", "Read-only file system")}[where]  # fmt: skip
    assert any(problem in line for problem in problems), line  # the lock's refusal quotes the system's words
    assert (mounts / "a-file").read_text() == "kept" and snapshot(run) | snapshot(study) == before


def test_a_full_disk_in_synth_is_one_line_exit_2_naming_the_folder(capsys, monkeypatch, mounts, run, study):
    code, _, err = run_cli(capsys, monkeypatch, *_os_commands(mounts, run, study, "small/data")["synth"])
    assert_one_line_error(code, err, str(mounts / "small" / "data"), "no space left on the device")


def test_a_full_disk_in_training_names_the_checkpoint_and_keeps_what_was_written(capsys, monkeypatch, mounts, run,
                                                                                 study):  # fmt: skip
    code, _, err = run_cli(capsys, monkeypatch, *_os_commands(mounts, run, study, "small/run")["train"])
    assert_one_line_error(code, err, str(mounts / "small" / "run" / "checkpoints"), "no space left on the device")
    config = yaml.safe_load((mounts / "small" / "run" / "config.yaml").read_text())  # written before, kept whole
    assert config["train"]["epochs"] == 1 and not list((mounts / "small").rglob("*.tmp"))


def test_a_full_disk_stops_the_study_in_one_line_and_the_run_is_retried_not_failed(capsys, monkeypatch, mounts, run,
                                                                                  study):  # fmt: skip
    from medattn.study.store import StudyStore

    (study.parent / "study.yaml").write_text(yaml.safe_dump(STUDY))
    code, _, err = run_cli(capsys, monkeypatch, *_os_commands(mounts, run, study, "small/study")["study"])
    assert_one_line_error(code, err, "No space left on device", str(mounts / "small" / "study"), "the study stopped")
    with StudyStore(mounts / "small" / "study" / "study.sqlite") as store:
        assert store.counts()["failed"] == 0 and store.counts()["running"] == 1  # the next start puts it back


def test_a_full_disk_under_the_study_database_is_one_line_exit_2_naming_it(capsys, monkeypatch, tmp_path):
    import sqlite3

    from medattn.study.store import StudyStore

    def full(self, *args):  # what SQLite raises when its file cannot grow (injected: no mount needed)
        with self.transaction():
            raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(StudyStore, "_update", full)
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    code, _, err = run_cli(capsys, monkeypatch, "study", tmp_path / "study.yaml", "--out", tmp_path / "out")
    assert_one_line_error(code, err, str(tmp_path / "out" / "study.sqlite"), "no space left on the device")
