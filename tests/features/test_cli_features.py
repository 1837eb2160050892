"""``medattn features`` end to end, and the validation that it measures what it claims.

A study trains ResNet-18 twice on the synthetic benchmark: once with the corner marker a perfect
shortcut (present on every lesion image in train/val, on no normal one) and once with the marker
uninformative (present on half the images whatever the label). In the test split the marker is
random for both. The shortcut model must come out as using the marker feature (measured from the
pixels), the other must not; the table must reach the study report.
"""

import json

import pytest

from medattn.study.config import parse_study
from medattn.study.results import FEATURES_JSON
from medattn.study.runner import run_study

from ..cli_helpers import run_cli

STUDY = {
    "name": "shortcut-validation",
    "data": {"synthetic_n": 800, "synthetic_difficulty": 0.5},
    "model": {"backbone": "resnet18", "image_size": 32},
    "train": {"epochs": 6, "batch_size": 32},
    "factors": {"synthetic_shortcut": [1.0, 0.5]},
    "seeds": [0],
    "baseline": {"synthetic_shortcut": 0.5},
}


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """The two-run study, trained (one thread); its folder."""
    root = tmp_path_factory.mktemp("features")
    environment = pytest.MonkeyPatch()
    environment.setenv("MEDATTN_CACHE", str(root / "cache" / "decoded"))
    run_study(parse_study(STUDY), root / "study", threads=1)
    yield root / "study"
    environment.undo()


def test_the_shortcut_model_uses_the_marker_and_the_control_does_not(analysed, capsys, monkeypatch):
    code, stdout, stderr = run_cli(capsys, monkeypatch, "features", analysed, "--permutations", "200", "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result == json.loads((analysed / FEATURES_JSON).read_text())
    assert result["features"][-1] == "marker" and result["features_source"] == "measured"
    rows = {(row["model"], row["feature"]): row for row in result["rows"]}
    shortcut, control = rows["1.0 seed 0", "marker"], rows["0.5 seed 0", "marker"]
    assert shortcut["uses"] is True and all(p < 0.01 for p in shortcut["p"].values())
    assert control["uses"] is False
    assert shortcut["n"] == control["n"] > 100


def test_the_table_reaches_the_study_report(analysed, capsys, monkeypatch):
    code, _, stderr = run_cli(capsys, monkeypatch, "report", analysed)
    assert code == 0, stderr
    markdown = (analysed / "report" / "report.md").read_text()
    assert "## Feature usage" in markdown
    assert "| 1.0 seed 0 |" in markdown and "✓ [" in markdown
    assert "Feature usage" in (analysed / "report" / "report.html").read_text()


def test_a_features_csv_is_used_as_given_and_bad_input_is_a_one_line_error(analysed, tmp_path, capsys, monkeypatch):
    run = next((analysed / "runs").iterdir())
    rows = (run / "predictions-test.csv").read_text().splitlines()[1:]
    table = tmp_path / "features.csv"
    table.write_text("path,site\n" + "".join(f"{line.split(',')[0]},{'ab'[i % 2]}\n" for i, line in enumerate(rows)))
    code, stdout, stderr = run_cli(
        capsys, monkeypatch, "features", run, "--features", table, "--tests", "rcot", "--out", tmp_path / "r.json",
        "--json",
    )  # fmt: skip
    assert code == 0, stderr
    assert json.loads(stdout)["rows"][0]["uses"] is False
    code, _, stderr = run_cli(capsys, monkeypatch, "features", run, "--features", tmp_path / "absent.csv")
    assert code == 2 and stderr.strip().count("\n") == 0 and "absent.csv: features file not found" in stderr
    code, _, stderr = run_cli(capsys, monkeypatch, "features", tmp_path, "--features", table)
    assert code == 2 and "neither a run folder" in stderr
