"""aptos2019: the APTOS 2019 Blindness Detection training set (Kaggle, Asia Pacific Tele-Ophthalmology Society)."""

from pathlib import Path

from medattn.data.recipes.base import choice, find_dir, find_file, keep_existing, plain_name
from medattn.data.records import DataSource, Record
from medattn.data.sources import read_manifest

GRADES = ("no_dr", "mild", "moderate", "severe", "proliferative_dr")
CLASSES = {"2": ("no_dr", "dr"), "5": GRADES}


def load_aptos2019(root: Path, *, classes: str = "2") -> DataSource:
    """APTOS 2019 (Kaggle): 3,662 retinal fundus photographs graded 0-4 for diabetic retinopathy.

    Layout assumed (the Kaggle competition download, extracted)::

        ROOT/train.csv                 columns id_code, diagnosis (0-4)
        ROOT/train_images/<id_code>.png

    Rows whose image is missing are skipped and reported.

    Args:
        root: the folder holding train.csv and train_images/.
        classes: "2" (default; Goncalves et al. 2022's binary task): no_dr (grade 0) vs dr
            (grades 1-4). "5": the five grades no_dr, mild, moderate, severe, proliferative_dr.

    Returns:
        ``split`` None (the competition's test labels were never released); ``group`` None (the
        release names no patients, although it holds both eyes of many patients).
    """
    names = CLASSES[choice("classes", classes, CLASSES)]
    csv = find_file(root, ("train.csv",), "the APTOS 2019 training CSV")
    folder = find_dir(root, ("train_images",), "the train_images/ folder")
    table = read_manifest(csv, required=("id_code", "diagnosis"))
    records = []
    for row in table.itertuples(index=False):
        grade = int(choice("diagnosis", row.diagnosis.strip(), ("0", "1", "2", "3", "4"), where=str(csv)))
        label = grade if len(names) == len(GRADES) else int(grade > 0)
        records.append(Record(str(folder / f"{plain_name(row.id_code, csv)}.png"), label))
    kept, skipped = keep_existing(records, csv.name)
    return DataSource("aptos2019", root, names, tuple(kept), tuple(skipped))
