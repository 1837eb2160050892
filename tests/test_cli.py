"""The command line: JSON contract, readable tables, one-line errors with exit code 2."""

import json
import subprocess
import sys

import pytest
import torch

from .cli_helpers import run_cli as run


def test_model_info_json_reports_the_seed_001_count(capsys, monkeypatch):
    code, out, _ = run(
        capsys,
        monkeypatch,
        "model-info",
        "--preset",
        "goncalves2022",
        "--backbone",
        "resnet50",
        "--attention",
        "se",
        "--num-classes",
        "2",
        "--json",
    )
    info = json.loads(out)
    assert code == 0
    assert info["params_reported"] == 26_027_074
    assert {
        "backbone",
        "attention",
        "placement",
        "head",
        "num_classes",
        "params",
        "params_reported",
        "trainable_params",
        "attention_params",
        "macs",
    } <= set(info)
    assert info["macs"] > 4e9 and info["weights_loaded"] is False


def test_model_info_table_is_readable(capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "model-info", "--attention", "cbam", "--image-size", "64")
    assert code == 0 and "params_reported" in out and "11,267,418" in out


def test_models_lists_everything(capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "models", "--json")
    data = json.loads(out)
    assert code == 0
    assert "mldam-goncalves2021" in data["attentions"] and "piater2024" in data["presets"]
    assert ["resnet18", "ga+ela", None] in data["valid"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["model-info", "--backbone", "resnet34"], "unknown backbone 'resnet34'; choose one of:"),
        (["model-info", "--attention", "la", "--backbone", "densenet121"], "cannot go at placement"),
        (["model-info", "--num-classes", "0"], "--num-classes must be at least 1"),
        (["model-info", "--stages", "one,two"], "--stages 'one,two': expected comma-separated integers"),
        (["model-info", "--weights", "/nowhere.pth"], "--weights /nowhere.pth: file not found"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code_2(capsys, monkeypatch, argv, message):
    code, out, err = run(capsys, monkeypatch, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_weights_file_of_wrong_architecture_exits_2(capsys, monkeypatch, tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"conv1.weight": torch.zeros(3)}, path)
    code, _, err = run(capsys, monkeypatch, "model-info", "--weights", str(path))
    assert code == 2 and "does not fit resnet18" in err and err.count("\n") == 1


def test_unknown_option_exits_2(capsys, monkeypatch):
    code, _, err = run(capsys, monkeypatch, "model-info", "--colour", "red")
    assert code == 2 and err.count("\n") == 1 and "No such option: --colour" in err


def test_installed_entry_point_runs_as_a_process():
    result = subprocess.run(
        [sys.executable, "-m", "medattn", "model-info", "--backbone", "nope"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "medattn: error: unknown backbone 'nope'; choose one of: resnet18, resnet50, densenet121, vgg16, "
        "efficientnet_b0, deit_tiny, vit_tiny"
    )


def _tiny_dataset(root, contaminated: bool):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (root / split / cls).mkdir(parents=True)
            Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(root / split / cls / "x.png")
    if contaminated:
        (root / "test" / "a" / "copy.png").write_bytes((root / "train" / "a" / "x.png").read_bytes())
    return root


def test_audit_json_and_strict_exit_codes(capsys, monkeypatch, tmp_path):
    clean = _tiny_dataset(tmp_path / "clean", contaminated=False)
    code, out, _ = run(capsys, monkeypatch, "audit", str(clean), "--json", "--strict")
    report = json.loads(out)
    assert code == 0 and report["num_images"] == 4 and report["cross_split_duplicates"] == []
    keys = {"num_images", "classes", "unreadable", "exact_duplicate_groups", "cross_split_duplicates",
            "near_duplicate_groups", "label_conflicts", "group_leaks"}  # fmt: skip
    assert keys <= set(report)
    dirty = _tiny_dataset(tmp_path / "dirty", contaminated=True)
    code, out, _ = run(capsys, monkeypatch, "audit", str(dirty), "--strict")
    assert code == 1 and "span splits" in out
    code, _, err = run(capsys, monkeypatch, "audit", str(tmp_path / "missing"))
    assert code == 2 and "not a folder" in err


def test_synth_writes_the_benchmark_and_refuses_bad_values(capsys, monkeypatch, tmp_path):
    code, out, _ = run(capsys, monkeypatch, "synth", str(tmp_path / "s"), "--n", "30", "--size", "16", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["num_images"] == 30 and (tmp_path / "s" / "manifest.csv").is_file()
    code, _, err = run(capsys, monkeypatch, "synth", str(tmp_path / "t"), "--n", "0")
    assert code == 2 and err.startswith("medattn: error: synth:") and err.count("\n") == 1
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "thesis.txt").write_text("keep me")
    code, _, err = run(capsys, monkeypatch, "synth", str(tmp_path / "foreign"), "--n", "10")
    assert code == 2 and (tmp_path / "foreign" / "thesis.txt").read_text() == "keep me"
