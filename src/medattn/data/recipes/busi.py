"""busi: Breast Ultrasound Images with ground truth masks (Al-Dhabyani et al. 2020)."""

import re
from pathlib import Path

from medattn.data.recipes.base import find_dir
from medattn.data.records import DataSource, Record

CLASSES = ("benign", "malignant", "normal")
MASK = re.compile(r"_mask(_\d+)?$")


def load_busi(root: Path) -> DataSource:
    """BUSI (Al-Dhabyani et al. 2020): 780 breast ultrasound images with lesion masks, 3 classes.

    Layout assumed (the release archive, extracted)::

        ROOT/Dataset_BUSI_with_GT/{benign,malignant,normal}/benign (1).png
                                                           /benign (1)_mask.png
                                                           /benign (1)_mask_1.png   (a second lesion)

    ROOT may also be the ``Dataset_BUSI_with_GT`` folder itself. Files whose name ends in
    ``_mask`` or ``_mask_N`` are masks, never images of their own. An image's mask is its
    ``_mask`` file (the first lesion; further ``_mask_N`` lesions are not merged into it), or
    the first ``_mask_N`` if there is no plain ``_mask``; normal images have all-zero masks.

    Returns:
        Classes benign, malignant, normal; no official split (``split`` None); the release names
        no patients (``group`` None).
    """
    folder = find_dir(root, ("Dataset_BUSI_with_GT", "."), "the Dataset_BUSI_with_GT/ folder")
    records = []
    for label, name in enumerate(CLASSES):
        class_folder = find_dir(folder, (name,), f"the {name}/ class folder")
        files = sorted(p for p in class_folder.iterdir() if p.is_file() and p.suffix.lower() == ".png")
        records += [
            Record(str(image), label, mask=_first_mask(image, files)) for image in files if not MASK.search(image.stem)
        ]
    return DataSource("busi", root, CLASSES, tuple(records))


def _first_mask(image: Path, files: list[Path]) -> str | None:
    """``NAME_mask.png`` if present, else the lowest-numbered ``NAME_mask_N.png``, else None."""
    suffixes = {p.stem[len(image.stem) :]: p for p in files if p.stem.startswith(image.stem)}
    masks = sorted((s for s in suffixes if MASK.fullmatch(s)), key=lambda s: int(s[6:] or -1))
    return str(suffixes[masks[0]]) if masks else None
