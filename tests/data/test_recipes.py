from collections import Counter
from pathlib import Path

import pytest

from medattn.data.images import read_image
from medattn.data.recipes import RECIPES, load_recipe
from medattn.data.recipes.kermany_cxr import patient_id
from medattn.data.records import DataError
from medattn.data.sources import open_source
from medattn.errors import ConfigError

from .conftest import BRAIN_MRI
from .recipe_helpers import by_name, image, table

# --- registry and options -------------------------------------------------------------------------------------------


def test_registry_lists_every_recipe_with_a_summary_and_options():
    assert list(RECIPES) == [
        "brain-tumor-mri",
        "kermany-cxr",
        "covid-ct",
        "isic2020",
        "aptos2019",
        "cbis-ddsm",
        "mimic-cxr",
        "camelyon17",
        "pad-ufes-20",
        "busi",
        "ph2",
        "synthetic",
    ]
    assert all(recipe.summary for recipe in RECIPES.values())
    assert RECIPES["brain-tumor-mri"].options == {"classes": "2"}
    assert RECIPES["mimic-cxr"].options == {"finding": "Pleural Effusion", "views": None}
    assert RECIPES["cbis-ddsm"].options == {"abnormality": "both", "image": "full"}
    assert RECIPES["ph2"].options == {"task": "diagnosis"}


def test_unknown_recipe_lists_the_choices(tmp_path):
    with pytest.raises(
        DataError, match=r"^unknown recipe 'chexpert'; choose one of: brain-tumor-mri, kermany-cxr, "
    ) as info:
        load_recipe("chexpert", tmp_path)
    assert isinstance(info.value, ConfigError)


def test_unknown_option_lists_the_valid_ones(tmp_path):
    with pytest.raises(DataError, match=r"^recipe 'brain-tumor-mri': unknown option 'clases'; valid options: classes$"):
        load_recipe("brain-tumor-mri", tmp_path, clases="4")
    with pytest.raises(DataError, match=r"^recipe 'busi': unknown option 'classes'; valid options: none$"):
        load_recipe("busi", tmp_path, classes="3")


def test_invalid_option_value_and_missing_root_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match=r"^unknown classes '3'; choose one of: 2, 4$"):
        load_recipe("brain-tumor-mri", tmp_path, classes=3)
    with pytest.raises(DataError, match=r"nowhere: not a folder"):
        load_recipe("busi", tmp_path / "nowhere")


# --- brain-tumor-mri ------------------------------------------------------------------------------------------------

TUMOUR_FOLDERS = ("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor")


@pytest.fixture
def brain_root(tmp_path):
    for folder in TUMOUR_FOLDERS:
        for i in range(2):
            image(tmp_path / "Training" / folder / f"image({i}).jpg")
        image(tmp_path / "Testing" / folder / "image(9).jpg")
    (tmp_path / "Training" / "no_tumor" / "notes.txt").write_text("not an image")
    return tmp_path


def test_brain_tumor_mri_is_binary_by_default(brain_root):
    source = open_source(brain_root, recipe="brain-tumor-mri")
    assert source.classes == ("no_tumor", "tumor")
    assert source.class_counts() == {"train": {"no_tumor": 2, "tumor": 6}, "test": {"no_tumor": 1, "tumor": 3}}
    assert all(r.group is None and Path(r.path).is_absolute() for r in source.records)


def test_brain_tumor_mri_keeps_four_classes_on_request(brain_root):
    source = load_recipe("brain-tumor-mri", brain_root, classes="4")
    assert source.classes == TUMOUR_FOLDERS
    assert source.class_counts()["train"] == dict.fromkeys(TUMOUR_FOLDERS, 2)


def test_brain_tumor_mri_needs_both_release_folders(tmp_path):
    image(tmp_path / "Training" / "no_tumor" / "a.jpg")
    with pytest.raises(DataError, match="expected Training/ and Testing/ folders"):
        load_recipe("brain-tumor-mri", tmp_path)


@pytest.mark.skipif(not BRAIN_MRI.is_dir(), reason=f"real brain-tumor-mri release not present at {BRAIN_MRI}")
def test_brain_tumor_mri_on_the_real_release():
    source = load_recipe("brain-tumor-mri", BRAIN_MRI, classes="4")
    splits = Counter(r.split for r in source.records)
    assert len(source.records) == 3264 and splits == {"train": 2870, "test": 394}
    assert source.class_counts()["test"] == {
        "glioma_tumor": 100,
        "meningioma_tumor": 115,
        "no_tumor": 105,
        "pituitary_tumor": 74,
    }
    binary = load_recipe("brain-tumor-mri", BRAIN_MRI)
    assert binary.class_counts() == {"test": {"no_tumor": 105, "tumor": 289}, "train": {"no_tumor": 395, "tumor": 2475}}
    first = read_image(binary.records[0].path)
    assert first.ndim == 3 and 0 <= first.min() <= first.max() <= 1


# --- kermany-cxr ----------------------------------------------------------------------------------------------------


def test_kermany_patient_ids_are_parsed_from_release_file_names():
    assert patient_id("person1_bacteria_1.jpeg") == "person1"
    assert patient_id("person1017_virus_1711.jpeg") == "person1017"
    assert patient_id("IM-0115-0001.jpeg") == "IM-0115"
    assert patient_id("NORMAL2-IM-0771-0001.jpeg") == "NORMAL2-IM-0771"
    assert patient_id("scan.jpeg") is None


def test_kermany_cxr_maps_the_release_folders(tmp_path):
    files = {
        "train/NORMAL": ["IM-0115-0001.jpeg", "NORMAL2-IM-0771-0001.jpeg"],
        "train/PNEUMONIA": ["person1_bacteria_1.jpeg", "person1_virus_6.jpeg", "person2_bacteria_3.jpeg"],
        "val/NORMAL": ["NORMAL2-IM-1427-0001.jpeg"],
        "val/PNEUMONIA": ["person1946_bacteria_4874.jpeg"],
        "test/NORMAL": ["IM-0001-0001.jpeg"],
        "test/PNEUMONIA": ["person100_bacteria_475.jpeg"],
    }
    for folder, file_names in files.items():
        for name in file_names:
            image(tmp_path / "chest_xray" / folder / name)
    source = load_recipe("kermany-cxr", tmp_path)
    assert source.classes == ("normal", "pneumonia")
    assert source.class_counts() == {
        "train": {"normal": 2, "pneumonia": 3},
        "val": {"normal": 1, "pneumonia": 1},
        "test": {"normal": 1, "pneumonia": 1},
    }
    records = by_name(source)
    assert records["person1_virus_6.jpeg"].group == records["person1_bacteria_1.jpeg"].group == "person1"
    assert records["NORMAL2-IM-0771-0001.jpeg"].group == "NORMAL2-IM-0771"
    assert load_recipe("kermany-cxr", tmp_path / "chest_xray").records == source.records


# --- covid-ct -------------------------------------------------------------------------------------------------------


def test_covid_ct_takes_the_split_from_the_data_split_lists(tmp_path):
    for name in ("2020.01.24.919183-p27-132.png", "b.png", "c.png"):
        image(tmp_path / "Images-processed" / "CT_COVID" / name)
    for name in ("0.jpg", "1%1.png", "n3.png", "unlisted.png"):
        image(tmp_path / "Images-processed" / "CT_NonCOVID" / name)
    lists = {
        "COVID/trainCT_COVID.txt": "2020.01.24.919183-p27-132.png\nb.png\n",
        "COVID/valCT_COVID.txt": "c.png\n",
        "COVID/testCT_COVID.txt": "gone.png\n\n",
        "NonCOVID/trainCT_NonCOVID.txt": "0.jpg\n",
        "NonCOVID/valCT_NonCOVID.txt": "1%1.png\n",
        "NonCOVID/testCT_NonCOVID.txt": "n3.png\n",
    }
    for name, text in lists.items():
        (tmp_path / "Data-split" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "Data-split" / name).write_text(text)
    source = load_recipe("covid-ct", tmp_path)
    assert source.classes == ("non_covid", "covid")
    assert source.class_counts() == {
        "train": {"non_covid": 1, "covid": 2},
        "val": {"non_covid": 1, "covid": 1},
        "test": {"non_covid": 1, "covid": 0},
    }
    assert len(source.skipped) == 4
    assert "gone.png: file named in a Data-split list not found" in source.skipped[0]
    assert "unlisted.png: listed in no Data-split file" in source.skipped[1]
    assert "COVID-CT-MetaInfo.xlsx: not found; covid images have no patient" in source.skipped[3]
    assert all(r.group is None for r in source.records)


# --- isic2020 -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["train", "jpeg/train"])
def test_isic2020_reads_targets_and_patients(tmp_path, folder):
    rows = [
        {"image_name": "ISIC_0015719", "patient_id": "IP_3075186", "target": 0},
        {"image_name": "ISIC_0052212", "patient_id": "IP_3075186", "target": 1},
        {"image_name": "ISIC_0068279", "patient_id": "IP_6890425", "target": 0},
        {"image_name": "ISIC_9999999", "patient_id": "IP_0000001", "target": 0},
    ]
    table(tmp_path / "train.csv", [{**row, "sex": "male", "diagnosis": "unknown"} for row in rows])
    for row in rows[:3]:
        image(tmp_path / folder / f"{row['image_name']}.jpg")
    if folder == "jpeg/train":  # the Kaggle download: train/ holds DICOM files
        image(tmp_path / "train" / "ISIC_0015719.png")
    source = load_recipe("isic2020", tmp_path)
    assert source.classes == ("benign", "malignant")
    assert source.class_counts() == {None: {"benign": 2, "malignant": 1}}
    assert by_name(source)["ISIC_0052212.jpg"].group == "IP_3075186"
    assert len(source.skipped) == 1 and "ISIC_9999999.jpg: file named in train.csv not found" in source.skipped[0]


def test_isic2020_refuses_a_bad_target(tmp_path):
    table(tmp_path / "train.csv", [{"image_name": "ISIC_1", "patient_id": "IP_1", "target": 2}])
    (tmp_path / "train").mkdir()
    with pytest.raises(DataError, match=r"train\.csv: unknown target '2'; choose one of: 0, 1"):
        load_recipe("isic2020", tmp_path)


# --- aptos2019 ------------------------------------------------------------------------------------------------------


@pytest.fixture
def aptos_root(tmp_path):
    rows = [{"id_code": f"000c1434d8d{i}", "diagnosis": grade} for i, grade in enumerate([0, 1, 2, 3, 4, 0, 2])]
    table(tmp_path / "train.csv", rows)
    for row in rows[:-1]:
        image(tmp_path / "train_images" / f"{row['id_code']}.png")
    return tmp_path


def test_aptos2019_is_binary_by_default(aptos_root):
    source = load_recipe("aptos2019", aptos_root)
    assert source.classes == ("no_dr", "dr")
    assert source.class_counts() == {None: {"no_dr": 2, "dr": 4}}
    assert len(source.skipped) == 1 and "000c1434d8d6.png" in source.skipped[0]


def test_aptos2019_keeps_the_five_grades_on_request(aptos_root):
    source = load_recipe("aptos2019", aptos_root, classes="5")
    assert source.classes == ("no_dr", "mild", "moderate", "severe", "proliferative_dr")
    assert [r.label for r in source.records] == [0, 1, 2, 3, 4, 0]
