"""brain-tumor-mri: the brain tumour MRI release of Bhuvaji et al. (Kaggle, 2020), Rao et al. 2023's MRI set."""

from pathlib import Path

from medattn.data.recipes.base import choice, relabel
from medattn.data.records import DataError, DataSource
from medattn.data.sources import folder_source

ALL = ("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor")
TUMOURS = ("glioma_tumor", "meningioma_tumor", "pituitary_tumor")
CLASSES = {
    "2": (("no_tumor", "tumor"), {"no_tumor": "no_tumor", **dict.fromkeys(TUMOURS, "tumor")}),
    "4": (ALL, {c: c for c in ALL}),
}


def load_brain_tumor_mri(root: Path, *, classes: str = "2") -> DataSource:
    """Brain tumour MRI (Bhuvaji et al. 2020): 3,264 slices, official train/test split.

    Layout assumed (the Kaggle archive "Brain Tumor Classification (MRI)", extracted)::

        ROOT/Training/{glioma_tumor,meningioma_tumor,no_tumor,pituitary_tumor}/*.jpg   2,870 images
        ROOT/Testing/{glioma_tumor,meningioma_tumor,no_tumor,pituitary_tumor}/*.jpg      394 images

    Args:
        root: the folder holding Training/ and Testing/.
        classes: "2" (default; Rao et al. 2023's binary task): no_tumor vs tumor, the three tumour
            types merged into tumor. "4": the release's four folders as classes.

    Returns:
        Splits train/test (the release has no validation split). The release names no patients, so
        ``group`` is None; slices of one patient may therefore sit in both splits.
    """
    names, mapping = CLASSES[choice("classes", classes, CLASSES)]
    if not (root / "Training").is_dir() or not (root / "Testing").is_dir():
        raise DataError(f"{root}: expected Training/ and Testing/ folders (the brain-tumor-mri release layout)")
    source = folder_source(root, name="brain-tumor-mri")
    return relabel(source, "brain-tumor-mri", names, mapping)
