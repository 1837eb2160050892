"""Folder layouts, CSV manifests and MedMNIST files map to the common form."""

import numpy as np
import pandas as pd
import pytest

from medattn.data.records import DataError
from medattn.data.sources import csv_source, folder_source, medmnist_source, open_source

from .conftest import BRAIN_MRI, write_image


def _tiny(path):
    return write_image(path, np.full((4, 4), 100, np.uint8))


def test_folder_layout_with_and_without_split_folders(tmp_path):
    for split in ("Training", "Testing"):
        for cls in ("a", "b"):
            _tiny(tmp_path / "s" / split / cls / "1.png")
    _tiny(tmp_path / "s" / "Training" / "b" / "2.jpg")
    source = folder_source(tmp_path / "s")
    assert source.classes == ("a", "b")
    assert source.class_counts() == {"train": {"a": 1, "b": 2}, "test": {"a": 1, "b": 1}}
    for cls in ("x", "y"):
        _tiny(tmp_path / "flat" / cls / "img.png")
    (tmp_path / "flat" / "x" / "readme.txt").write_text("not an image")
    flat = folder_source(tmp_path / "flat")
    assert flat.class_counts() == {None: {"x": 1, "y": 1}}


def test_empty_class_folder_is_an_error(tmp_path):
    _tiny(tmp_path / "a" / "1.png")
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match="class 'b' has no images"):
        folder_source(tmp_path)


def test_csv_manifest_with_split_group_and_mask(tmp_path):
    for name in ("i1.png", "i2.png", "m1.png"):
        _tiny(tmp_path / "imgs" / name)
    pd.DataFrame(
        {
            "path": ["imgs/i1.png", "imgs/i2.png", "imgs/gone.png"],
            "label": ["benign", "malignant", "benign"],
            "split": ["Training", "test", "val"],
            "group": ["p1", "p2", ""],
            "mask": ["imgs/m1.png", "", ""],
        }
    ).to_csv(tmp_path / "m.csv", index=False)
    source = csv_source(tmp_path / "m.csv")
    assert source.classes == ("benign", "malignant")
    first, second = source.records
    assert first.split == "train" and first.group == "p1" and first.mask.endswith("m1.png")
    assert second.split == "test" and second.mask is None
    assert source.skipped == (f"{tmp_path / 'imgs' / 'gone.png'}: file named in m.csv not found",)


@pytest.mark.parametrize(
    "rows, options, message",
    [
        ({"path": ["../../etc/passwd"], "label": ["a"]}, {}, "path '../../etc/passwd' escapes the dataset root"),
        ({"path": ["x.png"], "label": ["c"]}, {"classes": ["a", "b"]}, "label 'c' is not one of the classes a, b"),
        ({"file": ["x.png"], "label": ["a"]}, {}, "missing column 'path' (has: file, label)"),
    ],
)
def test_bad_manifests_name_the_file_and_problem(tmp_path, rows, options, message):
    _tiny(tmp_path / "x.png")
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(DataError) as err:
        csv_source(tmp_path / "m.csv", **options)
    assert message in str(err.value) and str(tmp_path / "m.csv") in str(err.value)


def test_medmnist_npz(tmp_path):
    arrays = {f"{s}_images": np.zeros((n, 8, 8), np.uint8) for s, n in (("train", 4), ("val", 2), ("test", 3))}
    labels = {f"{s}_labels": np.arange(n).reshape(-1, 1) % 2 for s, n in (("train", 4), ("val", 2), ("test", 3))}
    np.savez(tmp_path / "pneumoniamnist.npz", **arrays, **labels)
    source = open_source(tmp_path / "pneumoniamnist.npz")
    assert source.class_counts() == {"train": {"0": 2, "1": 2}, "val": {"0": 1, "1": 1}, "test": {"0": 2, "1": 1}}
    np.savez(tmp_path / "bad.npz", images=np.zeros(3))
    with pytest.raises(DataError, match="not a MedMNIST file"):
        medmnist_source(tmp_path / "bad.npz")


@pytest.mark.skipif(not BRAIN_MRI.is_dir(), reason="shared brain MRI data not present")
def test_real_brain_mri_folder():
    source = folder_source(BRAIN_MRI)
    assert len(source.records) == 3264
    assert source.class_counts()["test"] == {
        "glioma_tumor": 100, "meningioma_tumor": 115, "no_tumor": 105, "pituitary_tumor": 74,
    }  # fmt: skip
