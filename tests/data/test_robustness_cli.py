"""Hostile data through ``medattn train`` and ``medattn audit``: exit 2 with one line on stderr and no
traceback, or a run whose dropped files are counted on screen and listed in ``dropped.csv``."""

import csv
import os
import subprocess
import sys

import pytest

from ..cli_helpers import run_cli
from .robustness_helpers import (
    SIDE,
    bomb_png,
    folder_dataset,
    image_file,
    masked_manifest,
    truncated_png,
    write_manifest,
)

TRAIN = ["--epochs", "1", "--image-size", str(SIDE), "--batch-size", "8", "--backbone", "resnet18", "--quiet"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDATTN_CACHE", str(tmp_path / "cache"))


def _assert_one_line_error(code, out, err, expected):
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("medattn: error: ") and "Traceback" not in err
    assert expected in err, err


def test_train_counts_dropped_files_on_screen_and_lists_them_in_the_run(capsys, monkeypatch, tmp_path):
    root = folder_dataset(tmp_path / "d", per_class=20)
    truncated_png(root / "a" / "truncated.png")
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, monkeypatch, "train", "--data", root, "--out", run, *TRAIN)
    assert code == 0, err
    assert "data: 1 of 41 files dropped (cannot be used), 0 excluded" in err and "dropped.csv" in err
    with (run / "dropped.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["path"], row["split"]) for row in rows] == [(str(root / "a" / "truncated.png"), rows[0]["split"])]
    assert rows[0]["split"] in ("train", "val", "test") and rows[0]["reason"].startswith("cannot decode image")


def test_train_refuses_a_dataset_that_loses_too_many_files(capsys, monkeypatch, tmp_path):
    root = folder_dataset(tmp_path / "d", per_class=5)
    bomb_png(root / "a" / "bomb.png")
    truncated_png(root / "b" / "truncated.png")
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, monkeypatch, "train", "--data", root, "--out", run, *TRAIN)
    _assert_one_line_error(code, out, err, "2 of 12 files cannot be used")
    assert not run.exists()


def _long_name(tmp_path):
    image_file(tmp_path / "0.png")
    return write_manifest(tmp_path / "m.csv", [("0.png", "a"), ("y" * 300 + ".png", "b")])


def _nul_in_csv(tmp_path):
    image_file(tmp_path / "0.png")
    return write_manifest(tmp_path / "m.csv", [("0.png", "a"), ("x\0y.png", "b")])


def _split(value):
    def make(tmp_path):
        image_file(tmp_path / "0.png")
        image_file(tmp_path / "1.png", seed=1)
        rows = [("0.png", "a", "train"), ("1.png", "b", value)]
        return write_manifest(tmp_path / "m.csv", rows, ("path", "label", "split"))

    return make


def _link_out(tmp_path):
    root = folder_dataset(tmp_path / "d")
    (root / "a" / "link.png").symlink_to(image_file(tmp_path / "outside.png"))
    return root


def _loop(tmp_path):
    root = folder_dataset(tmp_path / "d")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    return root


BAD_DATA = {
    "symlink out of the root": (_link_out, "a/link.png: symbolic link to"),
    "symlink loop": (_loop, "symbolic link loop"),
    "split NaN": (_split("NaN"), "m.csv row 3: split 'NaN' is not train, val or test"),
    "split holdout": (_split("holdout"), "m.csv row 3: split 'holdout' is not train, val or test"),
    "NUL byte in a CSV path": (_nul_in_csv, "m.csv row 3: path 'x\\x00y.png' contains a NUL byte"),
    "300-character name": (_long_name, "m.csv row 3: path 'yyy"),
    "300-character --data": (lambda tmp_path: tmp_path / ("z" * 300), "(File name too long)"),
}


@pytest.mark.parametrize("command", ["train", "audit"])
@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_is_one_line_and_exit_2(capsys, monkeypatch, tmp_path, command, case):
    make, expected = BAD_DATA[case]
    data = make(tmp_path)
    argv = ["train", "--data", data, "--out", tmp_path / "run", *TRAIN] if command == "train" else ["audit", data]
    code, out, err = run_cli(capsys, monkeypatch, *argv)
    _assert_one_line_error(code, out, err, expected)


def test_nul_byte_in_a_config_data_path_is_one_line_and_exit_2(capsys, monkeypatch, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text('data:\n  path: "x\\0y"\n')
    code, out, err = run_cli(capsys, monkeypatch, "train", "--config", config, "--out", tmp_path / "run", *TRAIN)
    _assert_one_line_error(code, out, err, "[data]: path must be a non-empty string without NUL bytes, got 'x\\x00y'")


def test_audit_reports_a_mask_of_the_wrong_size(capsys, monkeypatch, tmp_path):
    code, out, _ = run_cli(capsys, monkeypatch, "audit", masked_manifest(tmp_path / "d"))
    text = " ".join(out.split())  # the console wraps long lines
    assert code == 0 and "no problems found" not in text
    assert "1 image(s) whose mask cannot be used (training drops them), e.g. img/0.png: mask is 16x16" in text


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs (needs root); skipped where it cannot be mounted."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_decoded_cache_on_a_full_disk_is_one_line_and_exit_2_not_sigbus(tmp_path, full_disk):
    root = folder_dataset(tmp_path / "d", per_class=4)  # 8 images at 256 px: 1.5 MiB of cache > 1 MiB
    env = {**os.environ, "MEDATTN_CACHE": str(full_disk / "decoded")}
    args = ["train", "--data", str(root), "--out", str(tmp_path / "run"), *TRAIN[:2], "--image-size", "256"]
    result = subprocess.run([sys.executable, "-m", "medattn", *args], capture_output=True, text=True, env=env)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert str(full_disk / "decoded") in result.stderr and "1,572,864 bytes needed" in result.stderr
