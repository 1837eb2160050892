"""Hostile input against every command: exit code 2, exactly one line on stderr starting ``medattn: error``, no
traceback, and nothing created by a command refused at validation (issue 14). Damaged run directories and study
folders are covered elsewhere; data robustness in tests/data/test_robustness_cli.py.

Each case is ``(command, argv, expected part of the message)``; ``{tmp}`` in argv is the test's tmp_path, and a
YAML file named in the case (``{tmp}/x.yaml``) is written from ``FILES`` first.
"""

import subprocess
import sys

import pytest
import yaml

from medattn.config import ModelSpec, RunConfig, TrainSpec
from medattn.errors import ConfigError

from .cli_helpers import run_cli

TINY = ["--epochs", "1", "--image-size", "32", "--synthetic-n", "40", "--batch-size", "8", "--quiet"]
STUDY = {"name": "s", "data": {"synthetic_n": 40}, "model": {"image_size": 32}, "train": {"epochs": 1},
         "factors": {"attention": ["none", "se"]}, "seeds": 1}  # fmt: skip
FILES = {  # name -> YAML content (run configs for train --config, study files for study)
    "unknown-section.yaml": {"trian": {"epochs": 1}},
    "epochs-text.yaml": {"train": {"epochs": "abc"}},
    "epochs-float.yaml": {"train": {"epochs": 2.5}},
    "momentum.yaml": {"train": {"momentum": -1}},
    "amp-off.yaml": {"train": {"amp": False}},  # what YAML makes of an unquoted `amp: off`
    "deterministic-text.yaml": {"train": {"deterministic": "yes"}},
    "image-size.yaml": {"model": {"image_size": 100000}},
    "synthetic-n.yaml": {"data": {"synthetic_n": 10**9}},
    "weights-no-pretrained.yaml": {"model": {"weights": "w.pth", "pretrained": False}},
    "shortcut-with-path.yaml": {"data": {"path": "/data", "synthetic_shortcut": 0.9}},
    "section-list.yaml": {"train": [1, 2]},
    "s-epochs.yaml": STUDY | {"train": {"epochs": "abc"}},
    "s-regime.yaml": STUDY | {"data": {"regime": 2}},
    "s-gamma.yaml": STUDY | {"train": {"gamma": -1}},
    "s-seeds.yaml": STUDY | {"seeds": 10**6},
    "s-seed-list.yaml": STUDY | {"seeds": [0, -1]},
    "s-factor-value.yaml": STUDY | {"factors": {"attention": ["none"], "epochs": [1, 2.5]}},
    "s-methods.yaml": STUDY | {"explain": {"methods": ["gradcamm"]}},
    "s-scores.yaml": STUDY | {"explain": {"scores": ["beauty"]}},
    "s-baseline.yaml": STUDY | {"baseline": {"attention": "nonee"}},
    "s-ood-escape.yaml": STUDY | {"ood": [{"name": "../../escaped", "path": "/data"}]},
    "s-ood-slash.yaml": STUDY | {"ood": [{"name": "a/b", "path": "/data"}]},
    "s-ood-hidden.yaml": STUDY | {"ood": [{"name": ".hidden", "path": "/data"}]},
    "s-vit.yaml": STUDY | {"model": {"backbone": "vit_tiny", "image_size": 40}, "factors": {"lr": [0.1, 0.01]}},
    "s-weights.yaml": STUDY | {"model": {"weights": "w.pth", "pretrained": False}},
    "s-factors-list.yaml": STUDY | {"factors": ["attention"]},
}

CASES = [
    ("models", ["models", "--colour", "red"], "No such option: --colour"),
    ("model-info", ["model-info", "--backbone", "resnet34"], "unknown backbone 'resnet34'"),
    ("model-info", ["model-info", "--image-size", "100000"], "--image-size must be at most 1024"),
    ("model-info", ["model-info", "--image-size", "8"], "--image-size must be at least 32"),
    ("model-info", ["model-info", "--backbone", "vit_tiny", "--image-size", "100"], "16-pixel patches"),
    ("model-info", ["model-info", "--weights", "{tmp}/w.pth", "--no-pretrained"], "--no-pretrained contradicts it"),
    ("model-info", ["model-info", "--stages", "-1"], "--stages[0] must be at least 0"),
    ("demo", ["demo", "--out", "{tmp}/out", "--workers", "0"], "--workers must be at least 1"),
    ("audit", ["audit", "{tmp}/missing"], "missing"),
    ("audit", ["audit", "{tmp}", "--near-distance", "-1"], "--near-distance must be at least 0"),
    ("synth", ["synth", "{tmp}/out", "--n", "0"], "--n must be at least 1"),
    ("synth", ["synth", "{tmp}/out", "--size", "100000"], "--size must be at most 1024"),
    ("synth", ["synth", "{tmp}/out", "--n", "100000", "--size", "1024"], "would take 293.0 GiB"),
    ("synth", ["synth", "{tmp}/out", "--shortcut", "2"], "--shortcut must be at most 1"),
    ("synth", ["synth", "{tmp}/out", "--seed", "-1"], "--seed must be at least 0"),
    ("train", ["train", "--out", "{tmp}/out", "--epochs", "abc"], "Invalid value for '--epochs'"),
    ("train", ["train", "--out", "{tmp}/out", "--epochs", "0"], "--epochs must be at least 1"),
    ("train", ["train", "--out", "{tmp}/out", "--regime", "2"], "--regime must be at most 1"),
    ("train", ["train", "--out", "{tmp}/out", "--regime", "0"], "--regime must be above 0"),
    ("train", ["train", "--out", "{tmp}/out", "--workers", "-1"], "--workers must be at least 0"),
    ("train", ["train", "--out", "{tmp}/out", "--lr", "nan"], "--lr must be a number in (0, 10]"),
    ("train", ["train", "--out", "{tmp}/out", "--seed", "-3"], "--seed must be at least 0"),
    ("train", ["train", "--out", "{tmp}/out", "--synthetic-n", str(10**9)], "--synthetic-n must be at most 100000"),
    ("train", ["train", "--out", "{tmp}/out", "--image-size", "100000"], "--image-size must be at most 1024"),
    ("train", ["train", "--out", "{tmp}/out", "--class-weights", "1,-2"], "--class-weights[1] must be above 0"),
    ("train", ["train", "--out", "{tmp}/out", "--log", "tb"], "unknown log[0] 'tb'"),
    ("train", ["train", "--out", "{tmp}/out", "--weights", "{tmp}/w.pth", "--no-pretrained"], "contradicts it"),
    ("train", ["train", "--out", "{tmp}/out", "--data", "{tmp}", "--shortcut", "0.5"], "--shortcut applies to the"),
    ("train", ["train", "--out", "{tmp}/out", "--data", "{tmp}", "--synthetic-n", "80"], "--synthetic-n applies"),
    ("train", ["train", "--out", "{tmp}/out", "--backbone", "vit_tiny", "--image-size", "100"], "16-pixel patches"),
    ("train", ["train", "--out", "{tmp}/out", "--synthetic-n", "100000", "--image-size", "1024"], "GiB"),
    ("train", ["train", "--out", "{tmp}/out", "--weights", "{tmp}/nowhere.pth", *TINY], "file not found"),
    ("train", ["train", "--out", "{tmp}/out", "--class-weights", "1,2,3", *TINY], "3 given for 2 classes"),
    ("train", ["train", "--out", "{tmp}/out", "--config", "{tmp}/unknown-section.yaml"], "unknown section 'trian'"),
    ("train", ["train", "--out", "{tmp}/out", "--config", "{tmp}/epochs-text.yaml"], "[train]: epochs must be"),
    ("train", ["train", "--out", "{tmp}/out", "--config", "{tmp}/epochs-float.yaml"], "got 2.5"),
    ("train", ["train", "--out", "{tmp}/out", "--config", "{tmp}/momentum.yaml"], "momentum must be at least 0"),
    ("train", ["train", "--out", "{tmp}/out", "--config", "{tmp}/amp-off.yaml"], "quote the word"),
    ("train", ["train", "--out", "{tmp}/out", "--config", "{tmp}/deterministic-text.yaml"], "true or false"),
    ("train", ["train", "--out", "{tmp}/out", "--config", "{tmp}/image-size.yaml"], "image_size must be at most"),
    ("train", ["train", "--out", "{tmp}/out", "--config", "{tmp}/synthetic-n.yaml"], "synthetic_n must be at most"),
    ("train", ["train", "--out", "{tmp}/out", "--config", "{tmp}/weights-no-pretrained.yaml"], "contradicts it"),
    ("train", ["train", "--out", "{tmp}/out", "--config", "{tmp}/shortcut-with-path.yaml"], "synthetic benchmark"),
    ("train", ["train", "--out", "{tmp}/out", "--config", "{tmp}/section-list.yaml"], "must be a mapping"),
    ("test", ["test", "{tmp}/run", "--name", "x/../../escaped"], "--name 'x/../../escaped': a name must be"),
    ("test", ["test", "{tmp}/run", "--name", ".."], "--name '..'"),
    ("test", ["test", "{tmp}/run", "--name", ""], "--name ''"),
    (
        "explain",
        ["explain", "{tmp}/run", "--method", "saliency", "--out", "{tmp}/out", "--memory-limit", "0"],
        "--memory-limit must be at least 16",
    ),
    ("explain", ["explain", "{tmp}/run", "--method", "saliency", "--out", "{tmp}/out", "--n", "0"], "--n must be"),
    ("explain", ["explain", "{tmp}/run", "--method", "salency", "--out", "{tmp}/out"], "unknown method 'salency'"),
    ("study", ["study", "quickstart", "--out", "{tmp}/out", "--threads", "0"], "--threads must be at least 1"),
    ("study", ["study", "quickstart", "--out", "{tmp}/out", "--workers", "0"], "--workers must be at least 1"),
    *[
        ("study", ["study", f"{{tmp}}/{name}", "--out", "{tmp}/out"], expected)
        for name, expected in [
            ("s-epochs.yaml", "[train]: epochs must be an integer"),
            ("s-regime.yaml", "regime must be at most 1"),
            ("s-gamma.yaml", "gamma must be above 0"),
            ("s-seeds.yaml", "seeds must be at most 1000"),
            ("s-seed-list.yaml", "seeds[1] must be at least 0"),
            ("s-factor-value.yaml", "[factors]: epochs must be an integer"),
            ("s-methods.yaml", "unknown methods[0] 'gradcamm'"),
            ("s-scores.yaml", "unknown scores[0] 'beauty'"),
            ("s-baseline.yaml", "baseline.attention 'nonee' is not a value"),
            ("s-ood-escape.yaml", "name must be one path component"),
            ("s-ood-slash.yaml", "got 'a/b'"),
            ("s-ood-hidden.yaml", "got '.hidden'"),
            ("s-vit.yaml", "16-pixel patches"),
            ("s-weights.yaml", "contradicts it"),
            ("s-factors-list.yaml", "'factors' must be a mapping"),
        ]
    ],
    ("report", ["report", "{tmp}/missing"], "missing"),
    ("plan", ["plan", "{tmp}/missing"], "no such study folder"),
    ("plan", ["plan", "{tmp}/missing", "--delta", "0"], "--delta must be above 0"),
    ("plan", ["plan", "{tmp}/missing", "--power", "1"], "--power must be below 1"),
    ("plan", ["plan", "{tmp}/missing", "--max-seeds", "2"], "--max-seeds must be at least 3"),
    ("features", ["features", "{tmp}/run", "--alpha", "0"], "--alpha must be above 0"),
    ("features", ["features", "{tmp}/run", "--max-n", "5"], "--max-n must be at least 20"),
    ("features", ["features", "{tmp}/run", "--split", "../../x"], "--split '../../x'"),
    (
        "reader-study",
        ["reader-study", "export", "{tmp}/missing", "--method", "saliency", "--out", "{tmp}/out", "--seed", "-1"],
        "--seed must be at least 0",
    ),  # fmt: skip
    (
        "reader-study",
        ["reader-study", "export", "{tmp}/missing", "--method", "saliency", "--out", "{tmp}/out"],
        "not an output folder",
    ),
    ("reader-study", ["reader-study", "tally", "{tmp}/missing.csv", "--key", "{tmp}/missing.json"], "missing"),
]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDATTN_CACHE", str(tmp_path / "cache"))


def _argv(argv: list[str], tmp_path) -> list[str]:
    for name, content in FILES.items():
        if any(name in arg for arg in argv):
            (tmp_path / name).write_text(yaml.safe_dump(content))
    return [arg.replace("{tmp}", str(tmp_path)) for arg in argv]


def test_every_command_has_hostile_cases():
    from typer.main import get_command

    from medattn.cli import app

    assert set(get_command(app).commands) == {command for command, _, _ in CASES}


@pytest.mark.parametrize(("command", "argv", "expected"), CASES, ids=[" ".join(c[1])[:60] for c in CASES])
def test_bad_input_exits_2_with_one_line_and_creates_nothing(capsys, monkeypatch, tmp_path, command, argv, expected):
    code, out, err = run_cli(capsys, monkeypatch, *_argv(argv, tmp_path))
    assert code == 2, (out, err)
    assert err.startswith("medattn: error") and err.count("\n") == 1 and "Traceback" not in err, err
    assert expected in err, err
    assert not (tmp_path / "out").exists()  # a refused train, study, synth or explain leaves no folder
    assert not (tmp_path.parent / "escaped").exists()


@pytest.mark.parametrize("argv", [["train", "--out", "{tmp}/out", "--regime", "2"], ["study", "{tmp}/s-ood-escape.yaml",
                                  "--out", "{tmp}/out"], ["test", "{tmp}/run", "--name", "../x"]])  # fmt: skip
def test_as_a_real_process_too(tmp_path, argv):
    result = subprocess.run([sys.executable, "-m", "medattn", *_argv(argv, tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("medattn: error: ") and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_weights_imply_pretrained_in_the_python_api_and_contradictions_are_refused():
    assert ModelSpec(weights="w.pth").pretrained is True
    assert RunConfig.from_dict({"model": {"weights": "w.pth"}}).model.pretrained is True
    with pytest.raises(ConfigError, match="--weights w.pth loads pretrained weights; --no-pretrained contradicts it"):
        ModelSpec(weights="w.pth", pretrained=False)
    with pytest.raises(ConfigError, match=r"run.yaml \[train\]: gamma must be above 0"):
        RunConfig.from_dict({"train": {"gamma": -1}}, "run.yaml")
    with pytest.raises(ConfigError, match="--momentum must be at least 0"):
        TrainSpec(momentum=-1)


def test_a_saved_config_reads_back_unchanged():
    config = RunConfig.from_dict({"data": {"synthetic_shortcut": 0.9}, "train": {"log": "tensorboard"}})
    assert config.train.log == ("tensorboard",)
    assert RunConfig.from_dict(config.to_dict()) == config


def test_a_refused_python_api_run_leaves_no_folder(tmp_path):
    from medattn.train.run import train_run

    config = RunConfig(model=ModelSpec(backbone="vit_tiny", image_size=40))
    with pytest.raises(ConfigError, match="16-pixel patches"):
        train_run(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_test_name_never_leaves_the_run_folder(capsys, monkeypatch, tmp_path):
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, monkeypatch, "train", "--out", run, *TINY)
    assert code == 0, err
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_cli(capsys, monkeypatch, "test", run, "--name", "x/../../../escaped")
    assert code == 2 and err.count("\n") == 1 and "--name 'x/../../../escaped'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not (tmp_path.parent / "escaped.json").exists()
    code, _, err = run_cli(capsys, monkeypatch, "test", run, "--name", "other-site_1.v2")
    assert code == 0, err
    assert (run / "metrics-other-site_1.v2.json").is_file()
