"""ph2: diagnoses, lesion masks and the dermoscopic criteria, on a fabricated layout and on the real copy."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medattn.data.recipes import load_recipe, parse_recipe
from medattn.data.records import DataError
from medattn.study.config import parse_study

from ..cli_helpers import run_cli

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "ph2"
HEADER = ["Image Name", "Histological Diagnosis", "Common Nevus", "Atypical Nevus", "Melanoma",
          "Asymmetry\n(0/1/2)", "Pigment Network\n(AT/T)", "Dots/Globules\n(A/AT/T)", "Streaks\n(A/P)",
          "Regression Areas\n(A/P)", "Blue-Whitish Veil\n(A/P)", "White", "Red", "Light-Brown", "Dark-Brown",
          "Blue-Gray", "Black"]  # fmt: skip
ROWS = [
    ["IMD003", None, "X", None, None, "0", "T", "A", "A", "A", "A", None, None, None, "X", None, None],
    ["IMD002", None, None, "X", None, "1", "AT", "AT", "A", "A", "A", None, None, "X", "X", None, None],
    ["IMD058", "Melanoma", None, None, "X", "2", "AT", "T", "P", "P", "P", "X", None, "X", "X", "X", "X"],
]


def fabricate(root: Path, rows=ROWS) -> Path:
    folder = root / "PH2Dataset"
    for row in rows:
        name = row[0]
        base = folder / "PH2 Dataset images" / name
        (base / f"{name}_Dermoscopic_Image").mkdir(parents=True)
        (base / f"{name}_lesion").mkdir()
        Image.new("RGB", (24, 16), (150, 90, 60)).save(base / f"{name}_Dermoscopic_Image" / f"{name}.bmp")
        mask = np.zeros((16, 24), np.uint8)
        mask[4:12, 6:18] = 255
        Image.fromarray(mask).save(base / f"{name}_lesion" / f"{name}_lesion.bmp")
    legend = [[None] * len(HEADER) for _ in range(3)]
    legend[1][5], legend[1][6], legend[1][7] = "Asymmetry", "0", "Fully Simmetric"
    pd.DataFrame([*legend, HEADER, *rows]).to_excel(folder / "PH2_dataset.xlsx", header=False, index=False)
    return root


def test_three_diagnoses_with_masks_and_criteria(tmp_path):
    source = load_recipe("ph2", fabricate(tmp_path))
    assert source.classes == ("common_nevus", "atypical_nevus", "melanoma")
    labels = {Path(r.path).stem: source.classes[r.label] for r in source.records}
    assert labels == {"IMD003": "common_nevus", "IMD002": "atypical_nevus", "IMD058": "melanoma"}
    assert all(r.mask.endswith(f"{Path(r.path).stem}_lesion.bmp") and r.split is None for r in source.records)
    features = source.features.loc[[r.path for r in source.records]]
    assert features["asymmetry_rating"].tolist() == [0.0, 1.0, 2.0]
    assert features["dots_globules"].dtype == "category"
    assert list(features["dots_globules"].cat.categories) == ["A", "AT", "T"]
    assert features["dots_globules"].tolist() == ["A", "AT", "T"]
    assert features["streaks"].tolist() == ["A", "A", "P"]
    assert features["black"].tolist() == [0, 0, 1]
    assert features["num_colours"].tolist() == [1, 2, 5]


def test_the_melanoma_task_merges_the_nevi(tmp_path):
    source = load_recipe("ph2", fabricate(tmp_path), task="melanoma")
    assert source.classes == ("nevus", "melanoma")
    assert sorted(source.classes[r.label] for r in source.records) == ["melanoma", "nevus", "nevus"]
    with pytest.raises(DataError, match="unknown ph2 task 'mel'"):
        load_recipe("ph2", tmp_path, task="mel")


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [(6, "maybe", "IMD003 Pigment Network 'maybe'; expected one of AT, T"),
     (3, "X", "IMD003 has 2 clinical diagnoses marked")],
)  # fmt: skip
def test_a_malformed_sheet_row_is_one_error_naming_the_image(tmp_path, column, value, message):
    rows = [list(row) for row in ROWS]
    rows[0][column] = value
    with pytest.raises(DataError, match=message):
        load_recipe("ph2", fabricate(tmp_path, rows))


def test_a_missing_image_is_skipped_and_reported(tmp_path):
    fabricate(tmp_path, [*ROWS, ["IMD004", *ROWS[1][1:]]])
    (tmp_path / "PH2Dataset" / "PH2 Dataset images" / "IMD002" / "IMD002_lesion" / "IMD002_lesion.bmp").unlink()
    source = load_recipe("ph2", tmp_path)
    assert len(source.records) == 3 and len(source.features) == 3
    assert "IMD002_lesion.bmp: file named in PH2_dataset.xlsx not found" in source.skipped[0]


def test_measured_features_carry_the_release_criteria(tmp_path):
    from medattn.features.inputs import measured_features
    from medattn.features.usage import ModelOutputs
    from medattn.study.results import Predictions

    source = load_recipe("ph2", fabricate(tmp_path))
    paths = [r.path for r in source.records]
    predictions = Predictions(paths, list(source.classes), np.array([0, 1, 2]), np.full((3, 3), 1 / 3))
    table = measured_features([ModelOutputs("m", str(tmp_path), predictions)], str(tmp_path), "ph2")
    assert {"asymmetry", "asymmetry_rating", "pigment_network", "blue_gray", "area"} <= set(table.columns)
    assert table["pigment_network"].dtype == "category"
    assert table.loc[str(Path(paths[2]).resolve()), "blue_whitish_veil"] == "P"


@pytest.mark.skipif(not REAL.is_dir(), reason="shared PH2 data not present")
def test_the_real_release():
    source = load_recipe("ph2", REAL)
    assert source.class_counts() == {None: {"common_nevus": 80, "atypical_nevus": 80, "melanoma": 40}}
    assert source.skipped == () and all(Path(r.mask).is_file() for r in source.records)
    features = source.features
    assert len(features) == 200 and not features.isna().any().any()
    assert features["pigment_network"].value_counts().to_dict() == {"AT": 116, "T": 84}
    melanoma = features.loc[[r.path for r in source.records if r.label == 2]]
    assert melanoma["blue_whitish_veil"].eq("P").mean() > features["blue_whitish_veil"].eq("P").mean()


def test_options_written_after_the_recipe_name_reach_the_loader(tmp_path):
    root = fabricate(tmp_path)
    assert load_recipe("ph2:task=melanoma", root).classes == ("nevus", "melanoma")
    assert load_recipe(" ph2 : task = melanoma ", root).classes == ("nevus", "melanoma")
    assert parse_recipe("mimic-cxr:finding=Edema:views=PA,AP") == ("mimic-cxr", {"finding": "Edema", "views": "PA,AP"})
    for spec, message in [
        ("ph2:task", "option 'task' is not key=value"),
        ("ph2:task=melanoma:task=diagnosis", "option 'task' given twice"),
        ("ph2:colour=red", "unknown option 'colour'; valid options: task"),
    ]:
        with pytest.raises(DataError, match=message):
            load_recipe(spec, root)
    with pytest.raises(DataError, match="option 'task' given twice"):
        load_recipe("ph2:task=melanoma", root, task="diagnosis")


def test_the_cli_and_a_study_take_recipe_options_in_the_name(tmp_path, capsys, monkeypatch):
    root = fabricate(tmp_path)
    code, stdout, stderr = run_cli(capsys, monkeypatch, "audit", root, "--recipe", "ph2:task=melanoma", "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["classes"] == ["nevus", "melanoma"]
    code, _, stderr = run_cli(capsys, monkeypatch, "audit", root, "--recipe", "ph2:task=mel")
    assert code == 2 and "unknown ph2 task 'mel'" in stderr and len(stderr.strip().splitlines()) == 1
    study = parse_study({"name": "s", "data": {"path": str(root), "recipe": "ph2:task=melanoma"}, "seeds": [0]})
    assert study.data["recipe"] == "ph2:task=melanoma"
