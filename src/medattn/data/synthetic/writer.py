"""Writing the synthetic benchmark as PNG files plus a CSV manifest that ``csv_source`` reads.

Layout of ``out``::

    synthetic.json   the generator's name and arguments (written first: marks the folder as ours)
    images/000000.png ...  RGB scans
    masks/000000.png ...   lesion masks of lesion images, 0/255 grey
    masks/empty.png  the all-zero mask every normal image points to (one file: files, not bytes,
                     are what a busy file system charges for)
    manifest.csv     written last, atomically; one row per image:
        path, mask   relative to the folder
        label        ``normal`` or ``lesion`` (``csv_source`` sorts class names; pass ``classes=CLASSES``
                     to keep lesion = 1)
        split        train / val / test, by patient
        group        patient id (p000000 ...), 1-3 images each
        marker       1 if the spurious corner marker is drawn, else 0
        marker_box   its pixel box ``x0 y0 x1 y1`` (end exclusive), empty when absent
        kind         irregular / spiculated / low_contrast, or none
        cyst         1 if a benign look-alike is drawn, else 0

The old manifest is deleted before any image is rewritten and the new one is renamed into place
after every file is on disk, so a crash never leaves a manifest that names a missing or stale file.
"""

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from medattn.data.records import DataError
from medattn.data.synthetic.draws import generator_for
from medattn.data.synthetic.plan import Patients, ScenePlan, plan_scenes, sample_patients
from medattn.data.synthetic.png import encode_pngs
from medattn.data.synthetic.render import (
    PATIENT_STREAM,
    PLAN_STREAM,
    SPLIT_STREAM,
    SPLITS,
    check_request,
    render_chunks,
)
from medattn.data.synthetic.shapes import LESION_KINDS
from medattn.io import write_json_atomic, write_text_atomic

CLASSES = ("normal", "lesion")  # label 0, label 1; pass classes=CLASSES to csv_source to keep that order
MANIFEST = "manifest.csv"
INFO = "synthetic.json"
GENERATOR = "medattn.data.synthetic"
COLUMNS = ("path", "label", "split", "group", "mask", "marker", "marker_box", "kind", "cyst")
IMAGE_LEVEL, MASK_LEVEL = 0, 1  # zlib levels, see medattn.data.synthetic.png
EMPTY_MASK = "empty.png"
_OUR_FILE = re.compile(r"\d{6,}\.png")


def write_synthetic_dataset(
    out: Path,
    n: int,
    size: int = 64,
    *,
    seed: int = 0,
    shortcut: float | None = None,
    difficulty: float = 0.5,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    prevalence: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``n`` synthetic scans, their masks and a manifest to ``out``; return the manifest's path.

    Patients (1-3 images each) are split into train/val/test, stratified by label, so that about
    ``val_fraction`` and ``test_fraction`` of each class's images land in val and test and no patient
    spans two splits. The marker follows ``shortcut`` in train and val and is random in test (see
    ``medattn.data.synthetic.markers``). Files are bit-identical for the same arguments; train and val
    images equal those of ``make_lesion_dataset(n, size, seed=seed, ...)`` at the same indices.

    Args:
        out: an empty or missing folder, or one that holds an earlier synthetic dataset (replaced).
        n: number of images.
        size: image side in pixels (at least 16).
        seed: any integer.
        shortcut: marker-label agreement in train/val, or None for no marker.
        difficulty: 0 (easy) to 1 (hard); see ``difficulty_settings``.
        val_fraction: share of the images in the validation split.
        test_fraction: share of the images in the test split.
        prevalence: probability that a patient has a lesion.
        progress: called as ``progress(images_written, n)`` after every chunk.

    Raises:
        DataError: ``out`` is a file, or a non-empty folder that holds no synthetic dataset.
        ValueError: an argument outside its range.
    """
    out = Path(out)
    check_request(n, size)
    if min(val_fraction, test_fraction) < 0.0 or val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"need 0 <= val_fraction, test_fraction and a sum below 1, got {val_fraction}, {test_fraction}"
        )
    patients = sample_patients(n, prevalence, generator_for(seed, PATIENT_STREAM))
    split = assign_splits(patients, val_fraction, test_fraction, generator_for(seed, SPLIT_STREAM))
    plan = plan_scenes(
        patients,
        size,
        correlated=split < 2,
        difficulty=difficulty,
        shortcut=shortcut,
        generator=generator_for(seed, PLAN_STREAM),
    )
    _claim(out)  # only once every argument has been checked, so a bad one leaves no folder behind
    arguments = {"n": n, "size": size, "seed": seed, "shortcut": shortcut, "difficulty": difficulty}
    arguments |= {"val_fraction": val_fraction, "test_fraction": test_fraction, "prevalence": prevalence}
    write_json_atomic(out / INFO, {"generator": GENERATOR, "format": 1, "classes": list(CLASSES), **arguments})
    (out / MANIFEST).unlink(missing_ok=True)
    names = [f"{i:06d}.png" for i in range(n)]
    _write_files(out, plan, seed, names, progress)
    return write_text_atomic(out / MANIFEST, _manifest(plan, split, names))


def assign_splits(
    patients: Patients, val_fraction: float, test_fraction: float, generator: torch.Generator
) -> torch.Tensor:
    """[n] int64 split index (0 train, 1 val, 2 test, as in ``SPLITS``) of each image, by patient.

    Per class, patients are shuffled and dealt to test until ``test_fraction`` of that class's images
    is reached, then to val, then to train; a patient goes to a split while the images dealt before
    it are still below the target, so a split with a positive fraction is never empty.
    """
    group, labels = patients.group, patients.labels
    count = int(group[-1]) + 1
    images = torch.bincount(group, minlength=count)
    label = torch.zeros(count, dtype=torch.long).scatter_(0, group, labels)
    split = torch.zeros(count, dtype=torch.long)
    order = torch.randperm(count, generator=generator)
    for value in (0, 1):
        members = order[label[order] == value]
        before = torch.cumsum(images[members], 0) - images[members]
        total = float(images[members].sum())
        in_test, in_val = before < test_fraction * total, before < (test_fraction + val_fraction) * total
        split[members] = torch.where(in_test, 2, torch.where(in_val, 1, 0))
    return split[group]


def _claim(out: Path) -> None:
    """Make sure ``out`` may be written: missing, empty, or an earlier synthetic dataset."""
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not _is_synthetic(out):
        raise DataError(f"{out}: folder is not empty and holds no medattn synthetic dataset; choose an empty folder")
    out.mkdir(parents=True, exist_ok=True)


def _is_synthetic(folder: Path) -> bool:
    try:
        return json.loads((folder / INFO).read_text()).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def _write_files(
    out: Path, plan: ScenePlan, seed: int, names: list[str], progress: Callable[[int, int], None] | None
) -> None:
    """Render the plan chunk by chunk into ``out/images`` and ``out/masks``, then drop stale files."""
    for folder in ("images", "masks"):
        (out / folder).mkdir(exist_ok=True)
    empty = np.zeros((1, plan.size, plan.size), np.uint8)
    (out / "masks" / EMPTY_MASK).write_bytes(encode_pngs(empty, MASK_LEVEL)[0])
    labels = plan.patients.labels
    for start, images, masks in render_chunks(plan, seed):
        end = start + len(images)
        _write_chunk(out, names[start:end], images, masks, labels[start:end] == 1)
        if progress is not None:
            progress(end, len(plan))
    lesion_names = {name for name, label in zip(names, labels.tolist(), strict=True) if label == 1}
    _remove_stale(out, {"images": set(names), "masks": lesion_names})


def _write_chunk(out: Path, names: list[str], images: torch.Tensor, masks: torch.Tensor, lesion: torch.Tensor) -> None:
    """Write every image, and the masks of the ``lesion`` images (normal ones share ``EMPTY_MASK``)."""
    rgb = images.mul(255.0).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy()  # a strided view
    grey = masks[lesion, 0].mul(255.0).to(torch.uint8).numpy()
    for name, data in zip(names, encode_pngs(rgb, IMAGE_LEVEL), strict=True):
        (out / "images" / name).write_bytes(data)
    lesion_names = [name for name, flag in zip(names, lesion.tolist(), strict=True) if flag]
    for name, data in zip(lesion_names, encode_pngs(grey, MASK_LEVEL), strict=True):
        (out / "masks" / name).write_bytes(data)


def _remove_stale(out: Path, keep: dict[str, set[str]]) -> None:
    """Delete images and masks an earlier dataset left behind: files named like ours but not in ``keep``."""
    for folder, names in keep.items():
        for path in (out / folder).iterdir():
            if _OUR_FILE.fullmatch(path.name) and path.name not in names:
                path.unlink()


def _manifest(plan: ScenePlan, split: torch.Tensor, names: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    boxes = np.asarray(plan.markers.box)
    columns = zip(
        names,
        plan.patients.labels.tolist(),
        split.tolist(),
        plan.patients.group.tolist(),
        plan.markers.present.tolist(),
        plan.patients.kind.tolist(),
        plan.cysts.present.tolist(),
        strict=True,
    )
    for (name, label, split_index, group, marker, kind, cyst), box in zip(columns, boxes, strict=True):
        box_text = " ".join(str(int(v)) for v in box) if marker else ""
        kind_name = LESION_KINDS[kind] if kind >= 0 else "none"
        mask = f"masks/{name}" if label == 1 else f"masks/{EMPTY_MASK}"
        row = (f"images/{name}", CLASSES[label], SPLITS[split_index], f"p{group:06d}", mask)
        writer.writerow((*row, int(marker), box_text, kind_name, int(cyst)))
    return buffer.getvalue()
