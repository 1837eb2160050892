"""Sources: folder layouts, CSV manifests and MedMNIST .npz files, each mapped to a DataSource."""

import os
from pathlib import Path

import pandas as pd

from medattn.data.images import ARRAY_SEPARATOR, npz_array
from medattn.data.records import SPLITS, DataError, DataSource, Record, check_data_path, inside_root, os_problem

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".dcm", ".dicom"}
SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test", "testing": "test",
}  # fmt: skip


def _images_in(folder: Path, root: Path) -> tuple[list[Path], list[str]]:
    """Image files under ``folder`` and one skipped line per broken symbolic link.

    Symbolic links are followed while they stay inside ``root``, as a CSV's paths must: a link (or a
    class folder) leading outside the root, or back to a folder it lies in (a loop), is a DataError.
    """
    real_root, real = root.resolve(), folder.resolve()
    if not real.is_relative_to(real_root):
        raise DataError(f"{folder}: symbolic link to {real}, outside the dataset root {root}; copy it into the root")
    found: list[Path] = []
    skipped: list[str] = []
    _walk(folder, (real,), real_root, found, skipped)
    return sorted(found), skipped


def _walk(folder: Path, ancestors: tuple[Path, ...], real_root: Path, found: list, skipped: list) -> None:
    """Add the images under ``folder`` (whose real path and its parents' are ``ancestors``) to ``found``."""
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        path, is_image = Path(entry.path), Path(entry.name).suffix.lower() in IMAGE_SUFFIXES
        real = _link_target(path, real_root) if entry.is_symlink() else ancestors[-1] / entry.name
        if real is None:
            if is_image:
                skipped.append(f"{path}: broken symbolic link")
        elif entry.is_dir():
            if real in ancestors:
                raise DataError(f"{path}: symbolic link loop (leads back to {real})")
            _walk(path, (*ancestors, real), real_root, found, skipped)
        elif is_image and entry.is_file():
            found.append(path)


def _link_target(link: Path, real_root: Path) -> Path | None:
    """Where ``link`` leads (None when nowhere); a loop or a target outside ``real_root`` is a DataError."""
    try:
        real = link.resolve(strict=True)
    except FileNotFoundError:
        return None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop before Python 3.13
        raise DataError(f"{link}: symbolic link cannot be followed ({os_problem(exc)})") from None
    if not real.is_relative_to(real_root):
        raise DataError(f"{link}: symbolic link to {real}, outside the dataset root; copy the file into the root")
    return real


def folder_source(root: str | Path, *, name: str = "folder") -> DataSource:
    """``ROOT/<class>/*`` or ``ROOT/<split>/<class>/*`` (split folders: train/val/test, any case,
    also Training/Testing/validation). Classes are the sorted class-folder names."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    split_folders = [p for p in subfolders if p.name.lower() in SPLIT_ALIASES]
    if split_folders:
        layout = [(SPLIT_ALIASES[p.name.lower()], c) for p in split_folders for c in sorted(p.iterdir()) if c.is_dir()]
    else:
        layout = [(None, c) for c in subfolders]
    classes = sorted({folder.name for _, folder in layout})
    if not classes:
        raise DataError(f"{root}: expected class folders (ROOT/<class>/ or ROOT/<split>/<class>/)")
    records, skipped = [], []
    for split, folder in layout:
        images, broken = _images_in(folder, root)
        records += [Record(str(path), classes.index(folder.name), split) for path in images]
        skipped += broken
    return DataSource(name, root, tuple(classes), tuple(records), tuple(skipped))


def csv_source(csv: str | Path, *, classes: list[str] | None = None, name: str = "csv") -> DataSource:
    """A manifest with columns ``path, label`` and optional ``split, group, mask``.

    Paths are relative to the CSV's folder and may not escape it. Labels are class names (or
    integers; surrounding spaces are ignored, a blank label is refused with its row number); ``classes``
    fixes their order, else they are sorted. Rows whose file is missing are skipped and reported in
    ``DataSource.skipped``.
    """
    csv = Path(csv)
    table = read_manifest(csv, required=("path", "label"))
    labels = table["label"].astype(str).str.strip()
    blank = labels.index[labels == ""]
    if len(blank):
        raise DataError(f"{csv} row {blank[0] + 2}: blank label (every row needs a class name or number)")
    classes = [str(c) for c in classes] if classes else sorted(labels.unique(), key=_natural)
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DataError(f"{csv}: label '{unknown[0]}' is not one of the classes {', '.join(classes)}")
    records, skipped = [], []
    for line, (row, label) in enumerate(zip(table.itertuples(index=False), labels, strict=True), start=2):
        where = f"{csv} row {line}"
        path = inside_root(csv.parent, row.path, where)
        mask = inside_root(csv.parent, row.mask, where) if _present(getattr(row, "mask", None)) else None
        missing = next((p for p in (path, mask) if p is not None and not _is_file(p, where)), None)
        if missing is not None:
            skipped.append(f"{missing}: file named in {csv.name} not found")
            continue
        records.append(Record(str(path), classes.index(label), _split(row, where), _text(row, "group"), _text(mask)))
    return DataSource(name, csv.parent, tuple(classes), tuple(records), tuple(skipped))


def medmnist_source(npz: str | Path, *, classes: list[str] | None = None, name: str = "medmnist") -> DataSource:
    """A MedMNIST ``.npz`` (keys ``{train,val,test}_images`` and ``_labels``), read locally."""
    npz = Path(npz)
    if not npz.is_file():
        raise DataError(f"{npz}: file not found")
    records = []
    try:
        for split in SPLITS:
            labels = npz_array(str(npz), f"{split}_labels").reshape(-1)
            records += [Record(f"{npz}{ARRAY_SEPARATOR}{split}/{i}", int(y), split) for i, y in enumerate(labels)]
    except (KeyError, ValueError, OSError) as exc:
        raise DataError(f"{npz}: not a MedMNIST file ({exc})") from None
    count = int(max(r.label for r in records)) + 1
    return DataSource(name, npz.parent, tuple(classes or [str(i) for i in range(count)]), tuple(records))


def open_source(path: str | Path, recipe: str | None = None, **options) -> DataSource:
    """Open ``path`` with a recipe, or guess the layout: .csv manifest, .npz MedMNIST, or a folder."""
    path = check_data_path(path)
    if recipe:
        from medattn.data.recipes import load_recipe

        return load_recipe(recipe, Path(path), **options)
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return csv_source(path, **options)
    if path.suffix.lower() == ".npz":
        return medmnist_source(path, **options)
    return folder_source(path, **options)


def read_manifest(csv: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV and check its columns; a missing file or column is a one-line DataError."""
    if not csv.is_file():
        raise DataError(f"{csv}: file not found")
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{csv}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(f"{csv}: missing column '{missing[0]}' (has: {', '.join(table.columns)})")
    return table


def _present(value) -> bool:
    return value is not None and str(value).strip() != ""


def _text(row_or_value, column: str | None = None) -> str | None:
    value = getattr(row_or_value, column, None) if column else row_or_value
    return str(value) if _present(value) else None


def _is_file(path: Path, where: str) -> bool:
    try:
        return path.is_file()
    except OSError as exc:  # e.g. a name too long for the file system
        raise DataError(f"{where}: path {path} cannot be used ({os_problem(exc)})") from None


def _split(row, where: str) -> str | None:
    """The row's split (empty: none, to be assigned); a value that names no split is a DataError."""
    split = _text(row, "split")
    if split is None:
        return None
    if split.strip().lower() not in SPLIT_ALIASES:
        raise DataError(f"{where}: split '{split}' is not train, val or test (leave it empty to have it assigned)")
    return SPLIT_ALIASES[split.strip().lower()]


def _natural(label: str):
    return (0, int(label)) if label.lstrip("-").isdigit() else (1, label)
