"""Recipes whose labels come from release metadata CSVs: CBIS-DDSM, MIMIC-CXR, Camelyon17, PAD-UFES-20, BUSI."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medattn.data.images import read_image, read_mask
from medattn.data.recipes import load_recipe
from medattn.data.records import DataError

from .recipe_helpers import by_name, image, names, table

# --- cbis-ddsm ------------------------------------------------------------------------------------------------------


def dicom(path: Path, pixels: np.ndarray) -> Path:
    """A minimal single-frame greyscale DICOM file."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = pydicom.dataset.FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.dataset.FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, "MONOCHROME2", 0
    ds.BitsAllocated = ds.BitsStored = pixels.dtype.itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def cbis_case(tree: Path, case: str, *, series: str, files: dict[str, np.ndarray]) -> dict[str, Path]:
    """Files of one case folder the way the NBIA Data Retriever writes them."""
    return {name: dicom(tree / case / "07-20-2016-DDSM-74994" / series / name, px) for name, px in files.items()}


FULL = np.arange(32 * 32, dtype=np.uint16).reshape(32, 32)
ROI = np.zeros((32, 32), np.uint8)
ROI[8:16, 8:16] = 255
CROP = np.ones((6, 6), np.uint16)


def cbis_row(patient, pathology, image_path, mask_path, crop_path):
    return {
        "patient_id": patient,
        "left or right breast": "LEFT",
        "abnormality id": 1,
        "pathology": pathology,
        "image file path": image_path,
        "cropped image file path": crop_path,
        "ROI mask file path": mask_path,
    }


@pytest.fixture
def cbis_root(tmp_path):
    tree = tmp_path / "CBIS-DDSM"
    uid = "1.3.6.1.4.1.9590.100.1.2.1/1.3.6.1.4.1.9590.100.1.2.2"
    # P_00001: two abnormalities on one mammogram; masks and crops in separate series folders (_1)
    # and together in one series folder (_2), where only file size tells them apart.
    full = cbis_case(
        tree, "Mass-Training_P_00001_LEFT_CC", series="1.000000-full mammogram images-24515", files={"1-1.dcm": FULL}
    )
    mask1 = cbis_case(
        tree, "Mass-Training_P_00001_LEFT_CC_1", series="1.000000-ROI mask images-1", files={"1-1.dcm": ROI}
    )
    crop1 = cbis_case(
        tree, "Mass-Training_P_00001_LEFT_CC_1", series="1.000000-cropped images-2", files={"1-1.dcm": CROP}
    )
    both2 = cbis_case(
        tree,
        "Mass-Training_P_00001_LEFT_CC_2",
        series="1.000000-ROI mask images-3",
        files={"1-1.dcm": CROP, "1-2.dcm": ROI},
    )
    # P_00002: files stored exactly where the CSV says.
    dicom(tree / "Mass-Test_P_00002_RIGHT_MLO" / uid / "000000.dcm", FULL)
    dicom(tree / "Mass-Test_P_00002_RIGHT_MLO_1" / uid / "000000.dcm", CROP)
    dicom(tree / "Mass-Test_P_00002_RIGHT_MLO_1" / uid / "000001.dcm", ROI)
    # P_00003: ROI folder missing; P_00004 and P_00005 complete.
    for case in ("Calc-Training_P_00003_LEFT_MLO", "Calc-Training_P_00004_LEFT_CC", "Calc-Test_P_00005_RIGHT_CC"):
        cbis_case(tree, case, series="1.000000-full mammogram images-1", files={"1-1.dcm": FULL})
        if "P_00003" not in case:
            cbis_case(tree, case + "_1", series="1.000000-ROI mask images-9", files={"1-1.dcm": CROP, "1-2.dcm": ROI})

    def paths(case):
        return f"{case}/{uid}/000000.dcm", f"{case}_1/{uid}/000001.dcm", f"{case}_1/{uid}/000000.dcm"

    case1 = "Mass-Training_P_00001_LEFT_CC"
    table(
        tmp_path / "mass_case_description_train_set.csv",
        [
            cbis_row("P_00001", "BENIGN", *paths(case1)),
            cbis_row(
                "P_00001",
                "MALIGNANT",
                f"{case1}/{uid}/000000.dcm",
                f"{case1}_2/{uid}/000001.dcm",
                f"{case1}_2/{uid}/000000.dcm\n",
            ),
        ],
    )
    table(
        tmp_path / "mass_case_description_test_set.csv",
        [cbis_row("P_00002", "BENIGN_WITHOUT_CALLBACK", *paths("Mass-Test_P_00002_RIGHT_MLO"))],
    )
    table(
        tmp_path / "calc_case_description_train_set.csv",
        [
            cbis_row("P_00003", "MALIGNANT", *paths("Calc-Training_P_00003_LEFT_MLO")),
            cbis_row("P_00004", "BENIGN", *paths("Calc-Training_P_00004_LEFT_CC")),
        ],
    )
    table(
        tmp_path / "calc_case_description_test_set.csv",
        [cbis_row("P_00005", "MALIGNANT", *paths("Calc-Test_P_00005_RIGHT_CC"))],
    )
    return {
        "root": tmp_path,
        "full": full["1-1.dcm"],
        "mask1": mask1["1-1.dcm"],
        "crop1": crop1["1-1.dcm"],
        "crop2": both2["1-1.dcm"],
    }


def test_cbis_ddsm_full_mammograms_with_masks(cbis_root):
    source = load_recipe("cbis-ddsm", cbis_root["root"])
    assert source.classes == ("benign", "malignant")
    assert source.class_counts() == {"train": {"benign": 1, "malignant": 1}, "test": {"benign": 1, "malignant": 1}}
    first = next(r for r in source.records if r.group == "P_00001")
    assert (first.path, first.mask, first.label, first.split) == (
        str(cbis_root["full"]),
        str(cbis_root["mask1"]),
        1,
        "train",
    )
    assert {r.group for r in source.records} == {"P_00001", "P_00002", "P_00004", "P_00005"}
    literal = next(r for r in source.records if r.group == "P_00002")
    assert literal.mask.endswith(
        "Mass-Test_P_00002_RIGHT_MLO_1/1.3.6.1.4.1.9590.100.1.2.1/1.3.6.1.4.1.9590.100.1.2.2/000001.dcm"
    )
    for record in source.records:
        assert read_mask(record.mask, read_image(record.path).shape[:2]).sum() == 64
    assert len(source.skipped) == 1 and "Calc-Training_P_00003_LEFT_MLO_1" in source.skipped[0]
    pixels = read_image(first.path)
    assert pixels.shape == (32, 32, 1) and read_mask(first.mask, pixels.shape[:2]).sum() == 64


def test_cbis_ddsm_crops_are_one_record_per_abnormality(cbis_root):
    source = load_recipe("cbis-ddsm", cbis_root["root"], image="crop")
    assert len(source.records) == 5 and all(r.mask is None for r in source.records)
    crops = [r.path for r in source.records if r.group == "P_00001"]
    assert crops == [str(cbis_root["crop1"]), str(cbis_root["crop2"])]
    assert all(read_image(path).shape == (6, 6, 1) for path in crops)


def test_cbis_ddsm_abnormality_option_selects_the_csvs(cbis_root):
    source = load_recipe("cbis-ddsm", cbis_root["root"], abnormality="calc")
    assert {r.group for r in source.records} == {"P_00004", "P_00005"}
    (cbis_root["root"] / "mass_case_description_test_set.csv").unlink()
    with pytest.raises(DataError, match="expected the CBIS-DDSM mass test description CSV"):
        load_recipe("cbis-ddsm", cbis_root["root"], abnormality="mass")


# --- mimic-cxr ------------------------------------------------------------------------------------------------------


@pytest.fixture
def mimic_root(tmp_path):
    findings = {"Atelectasis": "", "Cardiomegaly": "", "No Finding": "", "Pleural Effusion": ""}
    studies = [
        ("10000001", "50000001", {"Pleural Effusion": "1.0", "Atelectasis": "-1.0"}),
        ("10000001", "50000002", {"No Finding": "1.0"}),
        ("10000002", "50000003", {"Pleural Effusion": "-1.0", "No Finding": "1.0"}),
        ("10000002", "50000004", {"Cardiomegaly": "1.0", "Pleural Effusion": "0.0"}),
        ("11000003", "50000005", {"No Finding": "1.0"}),
    ]
    rows = [{"subject_id": s, "study_id": t, **findings, **values} for s, t, values in studies]
    table(tmp_path / "mimic-cxr-2.0.0-chexpert.csv.gz", rows)
    images = [  # dicom_id, subject, study, split, view, present
        ("d1", "10000001", "50000001", "train", "PA", True),
        ("d2", "10000001", "50000001", "train", "LATERAL", True),
        ("d3", "10000001", "50000002", "validate", "AP", True),
        ("d4", "10000002", "50000003", "train", "PA", True),
        ("d5", "10000002", "50000004", "train", "PA", True),
        ("d6", "11000003", "50000005", "test", "PA", True),
        ("d7", "11000003", "50000006", "test", "PA", True),
        ("d8", "11000003", "50000005", "test", "AP", False),
    ]
    split_columns = ("dicom_id", "subject_id", "study_id", "split")
    table(tmp_path / "mimic-cxr-2.0.0-split.csv", [dict(zip(split_columns, i[:4], strict=True)) for i in images])
    table(tmp_path / "mimic-cxr-2.0.0-metadata.csv", [{"dicom_id": i[0], "ViewPosition": i[4]} for i in images])
    for dicom_id, subject, study, *_, present in images:
        if present:
            image(tmp_path / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom_id}.jpg")
    return tmp_path


def test_mimic_cxr_finding_vs_no_finding(mimic_root):
    source = load_recipe("mimic-cxr", mimic_root)
    assert source.classes == ("no_finding", "pleural_effusion")
    assert source.class_counts() == {
        "train": {"no_finding": 0, "pleural_effusion": 2},
        "val": {"no_finding": 1, "pleural_effusion": 0},
        "test": {"no_finding": 1, "pleural_effusion": 0},
    }
    records = by_name(source)
    assert records["d1.jpg"].path == str(mimic_root / "files/p10/p10000001/s50000001/d1.jpg")
    assert records["d6.jpg"].group == "11000003" and records["d3.jpg"].split == "val"
    assert len(source.skipped) == 1 and "p11000003/s50000005/d8.jpg: file named in" in source.skipped[0]


def test_mimic_cxr_views_and_finding_options(mimic_root):
    frontal = load_recipe("mimic-cxr", mimic_root, views="PA, ap")
    assert "d2.jpg" not in by_name(frontal) and "d1.jpg" in by_name(frontal)
    cardiomegaly = load_recipe("mimic-cxr", mimic_root, finding="Cardiomegaly")
    assert names(cardiomegaly, "cardiomegaly") == {"d5.jpg"}
    assert names(cardiomegaly, "no_finding") == {"d3.jpg", "d4.jpg", "d6.jpg"}
    with pytest.raises(
        DataError, match=r"unknown finding 'Effusion'; choose one of: Atelectasis, Cardiomegaly, Pleural"
    ):
        load_recipe("mimic-cxr", mimic_root, finding="Effusion")


# --- camelyon17 -----------------------------------------------------------------------------------------------------


def camelyon_patch(patient: int, node: int, x: int, y: int) -> str:
    return f"patches/patient_{patient:03d}_node_{node}/patch_patient_{patient:03d}_node_{node}_x_{x}_y_{y}.png"


def test_camelyon17_follows_the_wilds_hospital_split(tmp_path):
    rows = [  # patient, node, x, y, tumor, center, split, present
        (4, 4, 3328, 21792, 1, 0, 0, True),
        (4, 4, 3360, 21792, 0, 0, 1, True),
        (10, 0, 100, 200, 0, 1, 0, True),
        (20, 2, 64, 96, 1, 2, 0, True),
        (39, 1, 10, 20, 0, 3, 0, True),
        (99, 3, 5, 6, 1, 4, 0, False),
    ]
    columns = ("patient", "node", "x_coord", "y_coord", "tumor", "center", "split")
    metadata = pd.DataFrame([dict(zip(columns, row[:7], strict=True)) for row in rows])
    metadata["patient"] = metadata["patient"].map("{:03d}".format)
    metadata.assign(slide=0).to_csv(tmp_path / "metadata.csv")  # with the release's unnamed index column
    for patient, node, x, y, *_, present in rows:
        if present:
            image(tmp_path / camelyon_patch(patient, node, x, y), size=8)
    source = load_recipe("camelyon17", tmp_path)
    assert source.classes == ("no_tumor", "tumor")
    assert source.class_counts() == {
        "train": {"no_tumor": 1, "tumor": 1},
        "val": {"no_tumor": 1, "tumor": 0},
        "ood_val": {"no_tumor": 1, "tumor": 0},
        "ood_test": {"no_tumor": 0, "tumor": 1},
    }
    assert source.records[0].path == str(tmp_path / camelyon_patch(4, 4, 3328, 21792))
    assert [r.group for r in source.records] == ["004", "004", "010", "020", "039"]
    assert len(source.skipped) == 1 and "patch_patient_099_node_3_x_5_y_6.png" in source.skipped[0]


def test_camelyon17_names_a_bad_metadata_cell(tmp_path):
    header = "patient,node,x_coord,y_coord,tumor,slide,center,split"
    (tmp_path / "metadata.csv").write_text(f"{header}\n004,4,1,2,0,0,0,0\n004,4,1,2,maybe,0,0,0\n")
    with pytest.raises(DataError, match=r"metadata\.csv: row 3: tumor 'maybe' is not an integer"):
        load_recipe("camelyon17", tmp_path)


# --- pad-ufes-20 ----------------------------------------------------------------------------------------------------


@pytest.fixture
def pad_root(tmp_path):
    diagnoses = ["NEV", "MEL", "BCC", "ACK", "SCC", "SEK", "NEV"]
    rows = [
        {
            "patient_id": f"PAT_{i // 2}",
            "lesion_id": 100 + i,
            "img_id": f"PAT_{i // 2}_{100 + i}_{i}.png",
            "diagnostic": diagnosis,
            "age": 50,
        }
        for i, diagnosis in enumerate(diagnoses)
    ]
    table(tmp_path / "metadata.csv", rows)
    for i, row in enumerate(rows[:-1]):
        part = i % 3 + 1
        image(tmp_path / "images" / f"imgs_part_{part}" / f"imgs_part_{part}" / row["img_id"])
    return tmp_path


def test_pad_ufes_20_nevus_melanoma_others(pad_root):
    source = load_recipe("pad-ufes-20", pad_root)
    assert source.classes == ("nevus", "melanoma", "others")
    assert source.class_counts() == {None: {"nevus": 1, "melanoma": 1, "others": 4}}
    assert by_name(source)["PAT_1_103_3.png"].group == "PAT_1"
    assert len(source.skipped) == 1 and "PAT_3_106_6.png: file named in metadata.csv not found" in source.skipped[0]


def test_pad_ufes_20_six_diagnoses_and_bad_diagnosis(pad_root):
    source = load_recipe("pad-ufes-20", pad_root, classes="6")
    assert source.classes == ("ACK", "BCC", "MEL", "NEV", "SCC", "SEK")
    assert set(source.class_counts()[None].values()) == {1}
    table(pad_root / "metadata.csv", [{"patient_id": "PAT_1", "img_id": "x.png", "diagnostic": "LUP"}])
    with pytest.raises(DataError, match=r"metadata\.csv: unknown diagnostic 'LUP'; choose one of: ACK, BCC"):
        load_recipe("pad-ufes-20", pad_root)


# --- busi -----------------------------------------------------------------------------------------------------------


def test_busi_masks_are_attached_not_counted_as_images(tmp_path):
    folder = tmp_path / "Dataset_BUSI_with_GT"
    for name in (
        "benign (1)",
        "benign (1)_mask",
        "benign (1)_mask_1",
        "benign (10)",
        "benign (10)_mask",
        "malignant (1)",
        "malignant (1)_mask_2",
        "malignant (1)_mask_1",
        "normal (1)",
        "normal (1)_mask",
    ):
        image(folder / name.split(" ")[0] / f"{name}.png")
    source = load_recipe("busi", tmp_path)
    assert source.classes == ("benign", "malignant", "normal")
    assert source.class_counts() == {None: {"benign": 2, "malignant": 1, "normal": 1}}
    masks = {name: Path(r.mask).name for name, r in by_name(source).items()}
    assert masks == {
        "benign (1).png": "benign (1)_mask.png",
        "benign (10).png": "benign (10)_mask.png",
        "malignant (1).png": "malignant (1)_mask_1.png",
        "normal (1).png": "normal (1)_mask.png",
    }
    assert load_recipe("busi", folder).records == source.records
