"""covid-ct: patients from the release's two meta files, on a fabricated layout and on the real copy."""

from pathlib import Path

import pandas as pd
import pytest

from medattn.data.audit import audit_source
from medattn.data.recipes import load_recipe
from medattn.data.recipes.covid_ct import source_paper
from medattn.data.records import DataError

from .recipe_helpers import image

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "covid-ct"
COVID = ["2020.02.25.20021568-p17-91.png", "2020.03.04.20031047-p13-1%0.png", "PIIS0140673620303603%2.png"]
NON_COVID = ["0.jpg", "1%0.jpg", "1%1.png"]


def fabricate(root: Path, splits=("train", "val", "test")) -> None:
    for name in COVID:
        image(root / "Images-processed" / "CT_COVID" / name)
    for name in NON_COVID:
        image(root / "Images-processed" / "CT_NonCOVID" / name)
    for folder, suffix, names in (("COVID", "CT_COVID", COVID), ("NonCOVID", "CT_NonCOVID", NON_COVID)):
        (root / "Data-split" / folder).mkdir(parents=True)
        for split, name in zip(splits, names, strict=True):
            (root / "Data-split" / folder / f"{split}{suffix}.txt").write_text(name + "\n")
    # "Patient 1" of two preprints are two people; the sheet names one image without its extension
    covid = {"File name": ["2020.02.25.20021568-p17-91", COVID[1], COVID[2]],
             "Patient ID": ["Patient 1", "Patient 1", "Patient 4"], "Age": [41, 50, None]}  # fmt: skip
    pd.DataFrame(covid).to_excel(root / "COVID-CT-MetaInfo.xlsx", index=False)
    non_covid = {"image name": NON_COVID, "patient id": ["crawled_patient_0", "crawled_patient_1", "crawled_patient_1"]}
    pd.DataFrame(non_covid).to_csv(root / "NonCOVID-CT-MetaInfo.csv")


def test_source_paper_is_the_stem_before_the_page_marker():
    assert source_paper("2020.02.25.20021568-p17-91.png") == "2020.02.25.20021568"
    assert source_paper("2020.03.04.20031047-p13-1%0") == "2020.03.04.20031047"
    assert source_paper("PIIS0140673620303603%2.png") == "PIIS0140673620303603"
    assert source_paper("PIIS0140673620301549_0%1.png") == "PIIS0140673620301549"


def test_patients_come_from_the_meta_files_and_restart_per_paper(tmp_path):
    fabricate(tmp_path)
    source = load_recipe("covid-ct", tmp_path)
    groups = {Path(r.path).name: r.group for r in source.records}
    assert groups[COVID[0]] == "2020.02.25.20021568/Patient 1"
    assert groups[COVID[1]] == "2020.03.04.20031047/Patient 1"  # same id, other paper: another person
    assert groups["1%0.jpg"] == groups["1%1.png"] == "crawled_patient_1"
    assert source.skipped == ()


def test_the_audit_finds_a_patient_in_two_official_splits(tmp_path):
    fabricate(tmp_path)  # crawled_patient_1 has one image in val and one in test
    report = audit_source(load_recipe("covid-ct", tmp_path))
    leaks = report["group_leaks"]
    assert [leak["group"] for leak in leaks] == ["crawled_patient_1"]
    assert any("crawled_patient_1" in line or "patient" in line for line in report["findings"])


def test_an_unreadable_meta_file_is_one_error_naming_it(tmp_path):
    fabricate(tmp_path)
    (tmp_path / "COVID-CT-MetaInfo.xlsx").write_bytes(b"not a spreadsheet")
    with pytest.raises(DataError, match="COVID-CT-MetaInfo.xlsx: cannot read the meta file"):
        load_recipe("covid-ct", tmp_path)
    fabricate(tmp_path / "other")
    pd.DataFrame({"name": ["0.jpg"]}).to_csv(tmp_path / "other" / "NonCOVID-CT-MetaInfo.csv")
    with pytest.raises(DataError, match="expected columns image name, patient id"):
        load_recipe("covid-ct", tmp_path / "other")


@pytest.mark.skipif(not REAL.is_dir(), reason="shared COVID-CT data not present")
def test_the_real_release_has_a_patient_for_every_image_and_a_clean_official_split():
    source = load_recipe("covid-ct", REAL)
    assert len(source.records) == 746 and source.skipped == ()
    assert all(r.group for r in source.records)
    covid = {r.group for r in source.records if r.label == 1}
    non_covid = {r.group for r in source.records if r.label == 0}
    assert (len(covid), len(non_covid)) == (213, 171)
    splits = {}
    for r in source.records:
        splits.setdefault(r.group, set()).add(r.split)
    assert all(len(s) == 1 for s in splits.values())  # the official split is patient-level
