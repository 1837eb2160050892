"""The number of outputs follows the data: folders of 2, 3 and 5 classes and a CSV of string labels train,
test, explain, feature-test and run through a study with no --num-classes; a contradicting --num-classes is
refused."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from medattn.config import DataSpec, ModelSpec, RunConfig, TrainSpec, read_yaml
from medattn.errors import ConfigError
from medattn.train.run import train_run

SMALL = ["--image-size", "32", "--batch-size", "8", "--epochs", "1", "--quiet"]
# Odd names and mixed formats, as users' folders have them.
NAMES = ("img 0.png", "Scan_01.JPG", "x.y.z.png", "IMG-0003.jpeg", "früh.png", "b.bmp")


def medattn(*args):
    return subprocess.run([sys.executable, "-m", "medattn", *map(str, args)], capture_output=True, text=True,
                          env=dict(os.environ))  # fmt: skip


def write_folder(root, classes, per_class=12):
    """ROOT/<class>/ with class-dependent brightness (learnable), odd names, PNG/JPEG/BMP, grey and RGB."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            side = 40 + 3 * (i % 4)
            array = np.clip(rng.normal(40 + 40 * k, 20, (side, side + i % 3)), 0, 255).astype(np.uint8)
            image = Image.fromarray(array).convert("RGB" if i % 2 else "L")
            image.save(root / name / f"{i}-{NAMES[i % len(NAMES)]}")
    return root


def _outputs(run):
    return read_yaml(run / "config.yaml")["model"]["num_classes"]


@pytest.mark.parametrize("classes", [("a", "b"), ("benign", "malignant", "normal"), tuple("vwxyz")])
def test_folder_of_k_classes_trains_a_model_with_k_outputs(tmp_path, classes):
    data = write_folder(tmp_path / "data", classes)
    config = RunConfig(DataSpec(path=str(data)), ModelSpec("resnet18", "se", image_size=32),
                       TrainSpec(epochs=1, batch_size=8))  # fmt: skip
    metrics = train_run(config, tmp_path / "run")
    assert _outputs(tmp_path / "run") == len(classes)
    assert np.asarray(metrics["confusion_matrix"]).shape == (len(classes), len(classes))
    header = (tmp_path / "run" / "predictions-test.csv").read_text().splitlines()[0]
    assert sum(column.startswith("prob") for column in header.split(",")) == len(classes), header


def test_preset_class_count_does_not_override_the_data(tmp_path):
    data = write_folder(tmp_path / "data", ("benign", "malignant", "normal"))
    config = RunConfig(DataSpec(path=str(data)), ModelSpec("resnet18", "none", preset="rao2023", image_size=32),
                       TrainSpec(epochs=1, batch_size=8))  # fmt: skip
    train_run(config, tmp_path / "run")
    assert _outputs(tmp_path / "run") == 3  # rao2023 says 2 logits: its data had two classes


def test_three_class_folder_trains_tests_explains_and_runs_a_study_through_the_cli(tmp_path):
    data = write_folder(tmp_path / "ultrasound", ("benign", "malignant", "normal"))
    run = tmp_path / "run"
    trained = medattn("train", "--out", run, "--data", data, "--attention", "cbam", *SMALL)
    assert trained.returncode == 0, trained.stderr
    assert _outputs(run) == 3
    tested = medattn("test", run, "--split", "val", "--json")
    assert tested.returncode == 0, tested.stderr
    assert len(json.loads(tested.stdout)["confusion_matrix"]) == 3
    explained = medattn("explain", run, "--method", "saliency", "--method", "gradcam", "--n", "3",
                        "--out", tmp_path / "maps")  # fmt: skip
    assert explained.returncode == 0, explained.stderr
    assert (tmp_path / "maps" / "explanations.json").is_file()
    used = medattn("features", run, "--split", "val", "--permutations", "100", "--json", "--out", tmp_path / "f.json")
    assert used.returncode == 0, used.stderr
    assert "brightness" in used.stdout  # measured on every image; the three classes give two log-ratio outputs
    study = tmp_path / "study.yaml"
    study.write_text(
        f"name: three-classes\ndata: {{path: '{data}'}}\nmodel: {{backbone: resnet18, image_size: 32}}\n"
        "train: {epochs: 1, batch_size: 8}\nfactors: {attention: [none, se]}\nseeds: [0]\n"
        "baseline: {attention: none}\n"
    )
    ran = medattn("study", study, "--out", tmp_path / "studied", "--workers", "1")
    assert ran.returncode == 0, ran.stderr
    rows = list(csv.DictReader((tmp_path / "studied" / "results.csv").open()))
    assert len(rows) == 2 and {row["status"] for row in rows} == {"done"}, rows


def test_csv_with_string_labels_trains(tmp_path):
    folder = write_folder(tmp_path / "images", ("cat a", "dog"))
    rows = [(f"images/{p.relative_to(folder).as_posix()}", f" {p.parent.name} ") for p in sorted(folder.rglob("*.*"))]
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        csv.writer(handle).writerows([("path", "label"), *rows])
    result = medattn("train", "--out", tmp_path / "run", "--data", manifest, *SMALL)
    assert result.returncode == 0, result.stderr
    assert _outputs(tmp_path / "run") == 2  # " dog " and "dog" are one class


@pytest.mark.parametrize("blank", ["", " "])
def test_blank_csv_label_is_refused_with_its_row(tmp_path, blank):
    folder = write_folder(tmp_path / "images", ("a", "b"), per_class=3)
    files = sorted(folder.rglob("*.*"))
    lines = ["path,label"] + [f"images/{p.relative_to(folder).as_posix()},{p.parent.name}" for p in files]
    lines[4] = f"images/{files[3].relative_to(folder).as_posix()},{blank}"
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    result = medattn("audit", tmp_path / "m.csv")
    assert result.returncode == 2, result.stderr
    assert "m.csv row 5: blank label" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("classes", "asked"), [(("a", "b"), 3), (("a", "b", "c"), 2), (("a", "b", "c"), 1)])
def test_contradicting_num_classes_is_refused_naming_both_numbers(tmp_path, classes, asked):
    data = write_folder(tmp_path / "data", classes, per_class=6)
    result = medattn("train", "--out", tmp_path / "run", "--data", data, "--num-classes", asked, *SMALL)
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert f"--num-classes {asked} contradicts the data" in message and f"has {len(classes)} classes" in message
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_one_sigmoid_logit_for_two_classes_when_asked(tmp_path):
    data = write_folder(tmp_path / "data", ("a", "b"))
    config = RunConfig(DataSpec(path=str(data)), ModelSpec("resnet18", "none", num_classes=1, image_size=32),
                       TrainSpec(epochs=1, batch_size=8, loss="bce"))  # fmt: skip
    train_run(config, tmp_path / "run")
    assert _outputs(tmp_path / "run") == 1


def test_single_class_data_is_refused(tmp_path):
    data = write_folder(tmp_path / "data", ("only",), per_class=6)
    config = RunConfig(DataSpec(path=str(data)), ModelSpec("resnet18", image_size=32), TrainSpec(epochs=1))
    with pytest.raises(ConfigError, match="class"):
        train_run(config, tmp_path / "run")
