"""kermany-cxr: paediatric chest X-rays, normal vs pneumonia (Kermany et al. 2018, Mendeley/Kaggle)."""

import re
from dataclasses import replace
from pathlib import Path

from medattn.data.recipes.base import find_dir, relabel
from medattn.data.records import DataSource
from medattn.data.sources import folder_source

CLASSES = ("normal", "pneumonia")
PATIENT = re.compile(r"^(person\d+)_|^((?:NORMAL2-)?IM-\d+)-", re.IGNORECASE)


def patient_id(file_name: str) -> str | None:
    """The patient part of a release file name, or None for a name of another form.

    ``person1_bacteria_1.jpeg`` -> ``person1``; ``IM-0115-0001.jpeg`` -> ``IM-0115``;
    ``NORMAL2-IM-0771-0001.jpeg`` -> ``NORMAL2-IM-0771``.
    """
    match = PATIENT.match(file_name)
    return (match.group(1) or match.group(2)) if match else None


def load_kermany_cxr(root: Path) -> DataSource:
    """Chest X-ray pneumonia (Kermany et al. 2018): about 5,860 images, official train/val/test split.

    Layout assumed (version 2 of the release, or the Kaggle archive, extracted)::

        ROOT/chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg

    ``ROOT`` may also be the ``chest_xray`` folder itself, or hold ``chest_xray/chest_xray`` (the
    Kaggle archive's nesting). Bacterial and viral pneumonia are one class.

    Returns:
        Classes normal, pneumonia; splits train/val/test as released (val has only 16 images);
        ``group`` is the patient parsed from the file name (see ``patient_id``). Patient numbers
        are the release's own: pneumonia files use ``personN``, normal files ``IM-NNNN``; the
        release does not say whether the same patient appears in two splits.
    """
    train = find_dir(root, ("train", "chest_xray/train", "chest_xray/chest_xray/train"), "the chest_xray/train/ folder")
    folder = train.parent
    source = relabel(folder_source(folder), "kermany-cxr", CLASSES, {"NORMAL": "normal", "PNEUMONIA": "pneumonia"})
    records = [replace(r, group=patient_id(Path(r.path).name)) for r in source.records]
    return source.with_records(records)
