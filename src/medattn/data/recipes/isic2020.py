"""isic2020: the SIIM-ISIC 2020 melanoma challenge training set (Rotemberg et al. 2021)."""

from pathlib import Path

from medattn.data.recipes.base import choice, find_dir, find_file, keep_existing, plain_name
from medattn.data.records import DataSource, Record
from medattn.data.sources import read_manifest

CLASSES = ("benign", "malignant")
CSV_NAMES = ("train.csv", "ISIC_2020_Training_GroundTruth_v2.csv", "ISIC_2020_Training_GroundTruth.csv")
IMAGE_FOLDERS = ("jpeg/train", "train", "ISIC_2020_Training_JPEG/train", "ISIC_2020_Training_JPEG")


def load_isic2020(root: Path) -> DataSource:
    """ISIC 2020 (Rotemberg et al. 2021): 33,126 dermoscopic images, benign vs malignant.

    Layout assumed (the Kaggle "siim-isic-melanoma-classification" download, or the ISIC
    challenge's own training zip and ground-truth CSV)::

        ROOT/train.csv          columns image_name, patient_id, target (0 benign, 1 malignant), ...
        ROOT/train/<image_name>.jpg

    Also accepted: ``ISIC_2020_Training_GroundTruth[_v2].csv`` for the CSV, and for the images
    the first folder that exists of ``jpeg/train/`` (the Kaggle download, whose ``train/`` holds
    DICOM files), ``train/`` and ``ISIC_2020_Training_JPEG/train/``.
    Rows whose image is missing are skipped and reported.

    Returns:
        Classes benign, malignant; ``split`` None (the challenge's test labels were never
        released); ``group`` = patient_id.
    """
    csv = find_file(root, CSV_NAMES, "the ISIC 2020 training CSV")
    folder = find_dir(root, IMAGE_FOLDERS, "the folder of training JPEGs")
    table = read_manifest(csv, required=("image_name", "patient_id", "target"))
    records = [
        Record(
            str(folder / f"{plain_name(row.image_name, csv)}.jpg"),
            int(choice("target", row.target.strip(), ("0", "1"), where=str(csv))),
            group=row.patient_id.strip() or None,
        )
        for row in table.itertuples(index=False)
    ]
    kept, skipped = keep_existing(records, csv.name)
    return DataSource("isic2020", root, CLASSES, tuple(kept), tuple(skipped))
