"""The audit's confound section: it flags the releases whose storage gives the label away (COVID-CT, brain
MRI) and stays quiet where it does not (permuted labels, the synthetic benchmark without its shortcut)."""

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from medattn.data.audit import audit_source
from medattn.data.confounds import ALPHA, AUC_FINDING, confound_section
from medattn.data.recipes import load_recipe
from medattn.data.records import DataSource, Record
from medattn.data.scan import FileFacts, image_statistics, scan_files
from medattn.data.synthetic import write_synthetic_dataset

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _release(name: str):
    if not (DATA / name).is_dir():
        pytest.skip(f"{DATA / name} not present")
    source = load_recipe(name, DATA / name)
    return source, scan_files(r.path for r in source.records)


@pytest.fixture(scope="module")
def covid_ct():
    return _release("covid-ct")


def test_covid_ct_format_and_mode_give_the_label_away(covid_ct):
    section = confound_section(*covid_ct)
    assert "format JPEG: 202 of 202 files are non_covid (train 119, test 53, val 30)" in section["findings"]
    assert "mode RGBA: 174 of 174 files are covid (train 110, test 47, val 17)" in section["findings"]
    assert section["crosstab"]["format"]["train"]["JPEG"] == {"non_covid": 119}
    classifier = section["classifier"]
    assert classifier["cv_auc"] > 0.95 and classifier["test_auc"] > 0.9  # the test split shares the shortcut
    assert any(line.startswith("stored file properties and image statistics alone") for line in section["findings"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_permuted_labels_raise_no_finding_and_the_classifier_is_near_chance(covid_ct, seed):
    source, facts = covid_ct
    labels = np.random.default_rng(seed).permutation([r.label for r in source.records])
    records = [Record(r.path, int(y), r.split, r.group) for r, y in zip(source.records, labels, strict=True)]
    permuted = source.with_records(records)
    section = confound_section(permuted, facts)
    assert section["findings"] == []
    assert abs(section["classifier"]["cv_auc"] - 0.5) < 0.1 and abs(section["classifier"]["test_auc"] - 0.5) < 0.12


def test_brain_mri_release_size_gives_the_label_away():
    source, facts = _release("brain-tumor-mri")
    section = confound_section(source, facts)
    assert any(line.startswith("size 256x256: ") and "files are tumor" in line for line in section["findings"])
    assert section["classifier"]["cv_auc"] >= AUC_FINDING


def test_the_synthetic_benchmark_without_its_shortcut_raises_no_finding(tmp_path):
    write_synthetic_dataset(tmp_path / "synth", 300, 64, seed=0, shortcut=None)
    report = audit_source(load_recipe("synthetic", tmp_path / "synth"))
    assert report["confounds"]["findings"] == []
    assert report["confounds"]["classifier"]["cv_auc"] < AUC_FINDING
    assert not any("predict the label" in line for line in report["findings"])


def _facts_source(formats: list[str], labels: list[int]) -> tuple[DataSource, dict]:
    records = [Record(f"/x/{i}.img", y, "train") for i, y in enumerate(labels)]
    facts = {
        r.path: FileFacts(r.path, width=32, height=32, format=f, mode="L", channels=1, bits=8, file_bytes=1024)
        for r, f in zip(records, formats, strict=True)
    }
    return DataSource("fabricated", Path("/x"), ("a", "b"), tuple(records)), facts


def test_a_pure_value_is_a_finding_only_when_the_class_share_does_not_explain_it():
    # 12 PNG files all of class b, where b is half the data: binomial tail 0.5**12 x 6 tests (3 values x 2 classes)
    formats, labels = ["PNG"] * 12 + ["JPEG"] * 24 + ["BMP"] * 4, [1] * 12 + [0] * 20 + [1] * 4 + [0] * 4
    section = confound_section(*_facts_source(formats, labels))
    share_b = 16 / 40
    assert binom.sf(11, 12, share_b) * 6 < ALPHA
    assert "format PNG: 12 of 12 files are b (train 12)" in section["findings"]
    assert not any(line.startswith("format BMP") for line in section["findings"])  # 4 files: too few
    # The same 12 files when b is 97 % of the data: all-b is what chance gives.
    formats, labels = ["PNG"] * 12 + ["JPEG"] * 388, [1] * 12 + [1] * 376 + [0] * 12
    assert confound_section(*_facts_source(formats, labels))["findings"] == []


def test_image_statistics_by_hand():
    image = np.zeros((10, 10, 3), dtype=np.float32)
    image[3:7, 3:7] = 1.0  # a bright square inside a dark frame
    stats = image_statistics(image)
    assert stats["brightness"] == pytest.approx(0.16) and stats["dark_border"] == 1.0
    assert stats["contrast"] == pytest.approx(np.sqrt(0.16 * 0.84))
    image[0, :] = 1.0  # the top row of the 1-pixel frame (36 pixels) turns bright
    assert image_statistics(image)["dark_border"] == pytest.approx(26 / 36)
