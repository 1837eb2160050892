"""``medattn explain`` and ``medattn reader-study`` end to end on two tiny trained runs."""

import csv
import json

import numpy as np
import pandas as pd
import pytest

from medattn.config import DataSpec, ModelSpec, RunConfig
from medattn.train.protocols import resolve_train
from medattn.train.run import train_run

from ..cli_helpers import run_cli


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """resnet18 without and with CBAM, one epoch on 60 synthetic images at 32 px (same data)."""
    root = tmp_path_factory.mktemp("runs")
    environment = pytest.MonkeyPatch()
    environment.setenv("MEDATTN_CACHE", str(root / "cache" / "decoded"))
    paths = []
    for attention in ("none", "cbam"):
        train = resolve_train({"epochs": 1, "batch_size": 16, "seed": 0}, backbone="resnet18", attention=attention)
        config = RunConfig(DataSpec(synthetic_n=60), ModelSpec("resnet18", attention, image_size=32), train)
        train_run(config, root / attention)
        paths.append(root / attention)
    yield paths
    environment.undo()


def _list_file(run, path):
    rows = list(csv.DictReader((run / "predictions-test.csv").open()))
    path.write_text("\n".join(row["path"] for row in rows[:3]) + "\n")
    return path


def test_explain_writes_maps_figures_and_scores(runs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "explained"
    listed = _list_file(runs[0], tmp_path / "list.txt")
    code, stdout, stderr = run_cli(
        capsys, monkeypatch, "explain", *runs, "--method", "saliency", "--method", "gradcam", "--method", "attention",
        "--select", "list", "--list", listed, "--target", "predicted", "--out", out,
        "--scores", "localisation,complexity", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert len(summary["images"]) == 3
    assert len(summary["explanations"]) == 6
    assert "no native spatial attention map" in summary["explanations"]["none|attention"]["refused"]
    assert summary["explanations"]["cbam|gradcam"]["model_mode"] == "eval"
    with np.load(out / "maps.npz") as maps:
        assert maps["cbam|gradcam"].shape == maps["cbam|attention"].shape == (3, 32, 32)
        assert "none|attention" not in maps.files
    for name in ("grid-saliency", "grid-gradcam", "mean-saliency", "mean-gradcam"):
        assert (out / f"{name}.png").stat().st_size > 1000 and (out / f"{name}.pdf").is_file()
    scores = {row["score"] for row in summary["scores"]["summary"]}
    assert {"relevance_mass_accuracy", "pointing_game", "sparseness"} <= scores
    assert (out / "scores.csv").read_text().startswith("model,method,image,score,value")
    table = pd.read_csv(out / "scores.csv")
    uniform = table[(table["model"] == "uniform map") & (table["score"] == "relevance_mass_accuracy")]
    with np.load(out / "images.npz") as arrays:  # a constant map's mass in the mask is the mask's share of the image
        lesion_share = (arrays["masks"] > 0).mean(axis=(1, 2))
    lesion_share[lesion_share == 0] = np.nan  # no lesion: the score is undefined
    np.testing.assert_allclose(uniform.sort_values("image")["value"], lesion_share, atol=1e-6)
    assert np.isfinite(lesion_share).any()

    sheet = tmp_path / "sheet"
    code, _, stderr = run_cli(capsys, monkeypatch, "reader-study", "export", out, "--method", "gradcam", "--out", sheet)
    assert code == 0, stderr
    key = json.loads((sheet / "reader_key.json").read_text())
    image_id, labels = next(iter(key["images"].items()))  # image id -> {anonymous label: model}
    label = next(iter(labels))
    answers = tmp_path / "answers.csv"
    answers.write_text(f"reader,image_id,choice,comment\nr1,{image_id},{label},fine\n")
    code, stdout, stderr = run_cli(
        capsys, monkeypatch, "reader-study", "tally", answers, "--key", sheet / "reader_key.json", "--json"
    )
    assert code == 0, stderr
    votes = json.loads(stdout)["votes"]
    assert sum(row["votes"] for row in votes if row["reader"] == "all") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "gradcamm"], "unknown method 'gradcamm'"),
        (["--method", "saliency", "--select", "list", "--list", "missing.txt"], "missing.txt does not exist"),
        (["--method", "saliency", "--scores", "beauty"], "unknown family 'beauty'"),
        (["--method", "lrp", "--display", "loud"], "unknown display 'loud'"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(runs, tmp_path, capsys, monkeypatch, argv, message):
    code, _, stderr = run_cli(capsys, monkeypatch, "explain", *runs, "--out", tmp_path / "o", *argv)
    assert code == 2 and message in stderr and stderr.count("\n") == 1


def test_not_a_run_directory_is_refused(tmp_path, capsys, monkeypatch):
    code, _, stderr = run_cli(capsys, monkeypatch, "explain", tmp_path, "--method", "saliency", "--out", tmp_path / "o")
    assert code == 2 and "not a run directory" in stderr


def test_a_dataset_with_other_classes_is_refused_in_one_line(runs, tmp_path, capsys, monkeypatch):
    # The check of `medattn test --data`: a 3-class folder must not be explained by 2-class runs under wrong names.
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    for i, image in enumerate(pixels):
        folder = tmp_path / "three" / ("benign", "malignant", "normal")[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.png")
    code, _, stderr = run_cli(capsys, monkeypatch, "explain", runs[0], "--method", "saliency", "--data",
                              tmp_path / "three", "--out", tmp_path / "o")  # fmt: skip
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert "the run was trained on classes (normal, lesion)" in stderr and "(benign, malignant, normal)" in stderr
    assert not (tmp_path / "o" / "maps.npz").exists()
