"""mimic-cxr: MIMIC-CXR-JPG v2.0.0 chest radiographs (Johnson et al. 2019), one finding vs No Finding."""

from pathlib import Path

import pandas as pd

from medattn.data.recipes.base import choice, find_file, keep_existing, plain_name
from medattn.data.records import DataError, DataSource, Record
from medattn.data.sources import read_manifest

LABELS_CSV = "mimic-cxr-2.0.0-chexpert.csv"
SPLIT_CSV = "mimic-cxr-2.0.0-split.csv"
METADATA_CSV = "mimic-cxr-2.0.0-metadata.csv"
IDS = ("subject_id", "study_id")
SPLITS = {"train": "train", "validate": "val", "test": "test"}


def load_mimic_cxr(root: Path, *, finding: str = "Pleural Effusion", views: str | None = None) -> DataSource:
    """MIMIC-CXR-JPG (Johnson et al. 2019): a binary task of one CheXpert finding vs No Finding.

    Layout assumed (the PhysioNet release ``mimic-cxr-jpg/2.0.0``; the CSVs may be ``.csv.gz``)::

        ROOT/mimic-cxr-2.0.0-chexpert.csv   subject_id, study_id, 14 findings (1.0, 0.0, -1.0 or blank)
        ROOT/mimic-cxr-2.0.0-split.csv      dicom_id, study_id, subject_id, split (train/validate/test)
        ROOT/mimic-cxr-2.0.0-metadata.csv   dicom_id, ..., ViewPosition          (read only for ``views``)
        ROOT/files/p10/p10000032/s50414267/<dicom_id>.jpg

    Labels are per study and apply to every image of the study. Positive: ``finding`` is 1.0.
    Negative: ``No Finding`` is 1.0 and ``finding`` is neither 1.0 nor -1.0. Every other study
    (uncertain -1.0, blank, other findings only) is left out, as are images of studies without a
    label row. Rows whose image is missing are skipped and reported.

    Args:
        root: the release folder (holding ``files/`` and the CSVs).
        finding: a finding column of the CheXpert CSV; default "Pleural Effusion" (Goncalves et
            al. 2022's "Normal" vs "Pleural Effusion").
        views: comma-separated ViewPosition values to keep (e.g. "PA,AP" for frontal images);
            None keeps every view.

    Returns:
        Classes no_finding and the finding's name in snake case; splits train/val/test from the
        official split (validate -> val); ``group`` = subject_id.
    """
    labels_csv = find_file(root, (LABELS_CSV, LABELS_CSV + ".gz"), "the MIMIC-CXR-JPG CheXpert label CSV")
    labels = read_manifest(labels_csv, required=(*IDS, "No Finding"))
    finding = choice("finding", finding, [c for c in labels.columns if c not in (*IDS, "No Finding")])
    study_labels = _study_labels(labels, finding)
    split_csv = find_file(root, (SPLIT_CSV, SPLIT_CSV + ".gz"), "the MIMIC-CXR-JPG split CSV")
    images = read_manifest(split_csv, required=("dicom_id", *IDS, "split"))
    if views:
        images = _keep_views(root, images, views)
    records = []
    for row in images.itertuples(index=False):
        key = (row.subject_id.strip(), row.study_id.strip())
        if key in study_labels:
            split = SPLITS[choice("split", row.split.strip(), SPLITS, where=str(split_csv))]
            path = root / _relative_path(key, plain_name(row.dicom_id, split_csv), split_csv)
            records.append(Record(str(path), study_labels[key], split, group=key[0]))
    kept, skipped = keep_existing(records, split_csv.name)
    classes = ("no_finding", finding.lower().replace(" ", "_"))
    return DataSource("mimic-cxr", root, classes, tuple(kept), tuple(skipped))


def _study_labels(labels: pd.DataFrame, finding: str) -> dict[tuple[str, str], int]:
    """(subject_id, study_id) -> 1 (finding present) or 0 (No Finding), for usable studies only."""
    value = pd.to_numeric(labels[finding], errors="coerce")
    positive = value == 1
    negative = (pd.to_numeric(labels["No Finding"], errors="coerce") == 1) & ~value.isin((1, -1))
    usable = labels[positive | negative]
    keys = zip(usable["subject_id"].str.strip(), usable["study_id"].str.strip(), strict=True)
    return dict(zip(keys, positive[positive | negative].astype(int), strict=True))


def _relative_path(key: tuple[str, str], dicom_id: str, csv: Path) -> str:
    subject, study = key
    if not (subject.isdigit() and study.isdigit()):
        raise DataError(f"{csv}: subject_id '{subject}' / study_id '{study}' are not numbers")
    return f"files/p{subject[:2]}/p{subject}/s{study}/{dicom_id}.jpg"


def _keep_views(root: Path, images: pd.DataFrame, views: str) -> pd.DataFrame:
    csv = find_file(root, (METADATA_CSV, METADATA_CSV + ".gz"), "the MIMIC-CXR-JPG metadata CSV (needed by views)")
    metadata = read_manifest(csv, required=("dicom_id", "ViewPosition"))
    wanted = {v.strip().upper() for v in str(views).split(",") if v.strip()}
    keep = set(metadata.loc[metadata["ViewPosition"].str.strip().str.upper().isin(wanted), "dicom_id"].str.strip())
    return images[images["dicom_id"].str.strip().isin(keep)]
