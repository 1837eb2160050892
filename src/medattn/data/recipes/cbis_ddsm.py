"""cbis-ddsm: the Curated Breast Imaging Subset of DDSM (Lee et al. 2017), TCIA DICOM release."""

from dataclasses import replace
from pathlib import Path

from medattn.data.recipes.base import choice, find_file
from medattn.data.records import DataSource, Record, inside_root
from medattn.data.sources import read_manifest

CLASSES = ("benign", "malignant")
PATHOLOGY = {"BENIGN": 0, "BENIGN_WITHOUT_CALLBACK": 0, "MALIGNANT": 1}
ABNORMALITIES = {"both": ("mass", "calc"), "mass": ("mass",), "calc": ("calc",)}
IMAGES = {"full": ("image file path", "ROI mask file path"), "crop": ("cropped image file path", None)}
COLUMNS = ("patient_id", "pathology", "image file path", "ROI mask file path", "cropped image file path")
SERIES_WORDS = {
    "image file path": "full mammogram",
    "ROI mask file path": "roi mask",
    "cropped image file path": "cropped",
}


def load_cbis_ddsm(root: Path, *, abnormality: str = "both", image: str = "full") -> DataSource:
    """CBIS-DDSM (Lee et al. 2017): scanned-film mammograms, benign vs malignant, official split.

    Layout assumed (the TCIA collection downloaded with the NBIA Data Retriever, plus its CSVs)::

        ROOT/{mass,calc}_case_description_{train,test}_set.csv
            columns patient_id, pathology, image file path, ROI mask file path,
            cropped image file path, ...
        ROOT/CBIS-DDSM/Mass-Training_P_00001_LEFT_CC/<date-study>/<series>/1-1.dcm        full image
        ROOT/CBIS-DDSM/Mass-Training_P_00001_LEFT_CC_1/<date-study>/<series>/1-{1,2}.dcm  mask, crop

    (The DICOM folder may also be ROOT itself.) The CSV paths read
    ``<case folder>/<study UID>/<series UID>/000000.dcm``, but the downloader names the study and
    series folders differently; only the first component, the case folder, is shared. A CSV path
    is therefore resolved as itself if that file exists, else as a ``.dcm`` file found under its
    case folder: the one whose series folder names its kind ("full mammogram", "ROI mask",
    "cropped"), and among several candidates the largest for a full image or ROI mask (the mask
    has the full image's size) and the smallest for a crop. Rows whose files cannot be found are
    skipped and reported.

    Args:
        root: the folder holding the four CSVs (and usually the CBIS-DDSM/ DICOM folder).
        abnormality: "both" (default), "mass" or "calc": which description CSVs to read.
        image: "full" (default): one record per mammogram with its ROI mask; a mammogram with
            several abnormalities is malignant if any of them is, and its mask is the first
            abnormality's. "crop": one record per abnormality, the release's cropped ROI image,
            without mask.

    Returns:
        Classes benign (BENIGN and BENIGN_WITHOUT_CALLBACK) and malignant; splits train/test from
        the CSV names; ``group`` = patient_id. Images are DICOM (needs pydicom).
    """
    kinds = ABNORMALITIES[choice("abnormality", abnormality, ABNORMALITIES)]
    image = choice("image", image, IMAGES)
    tree = root / "CBIS-DDSM" if (root / "CBIS-DDSM").is_dir() else root
    records, skipped = [], []
    for kind in kinds:
        for split in ("train", "test"):
            name = f"{kind}_case_description_{split}_set.csv"
            csv = find_file(root, (name,), f"the CBIS-DDSM {kind} {split} description CSV")
            found, missing = _read_rows(csv, tree, split, IMAGES[image])
            records += found
            skipped += missing
    if image == "full":
        records = _one_per_image(records)
    return DataSource("cbis-ddsm", root, CLASSES, tuple(records), tuple(skipped))


def _read_rows(csv: Path, tree: Path, split: str, columns: tuple[str, str | None]) -> tuple[list, list]:
    """The records of one description CSV, and a skipped line per row whose DICOM files are missing."""
    records, skipped = [], []
    image_column, mask_column = columns
    for row in read_manifest(csv, required=COLUMNS).to_dict("records"):
        label = PATHOLOGY[choice("pathology", row["pathology"].strip(), PATHOLOGY, where=str(csv))]
        path = _resolve(tree, row[image_column], image_column, csv)
        mask = _resolve(tree, row[mask_column], mask_column, csv) if mask_column else None
        missing = [row[c].strip() for c, p in ((image_column, path), (mask_column, mask)) if c and p is None]
        if missing:
            skipped.append(f"{tree / missing[0]}: DICOM file named in {csv.name} not found")
            continue
        records.append(Record(str(path), label, split, row["patient_id"].strip() or None, mask and str(mask)))
    return records, skipped


def _resolve(tree: Path, relative: str, column: str, csv: Path) -> Path | None:
    """The DICOM file a CSV path names, or None (see ``load_cbis_ddsm`` for the rule)."""
    relative = relative.strip().replace("\\", "/")
    if not relative:
        return None
    literal = inside_root(tree, relative, str(csv))
    if literal.is_file():
        return literal
    folder = inside_root(tree, relative.split("/")[0], str(csv))
    files = sorted(folder.rglob("*.dcm")) if folder.is_dir() else []
    named = [f for f in files if SERIES_WORDS[column] in f.parent.name.lower()]
    candidates = sorted(named or files, key=lambda f: f.stat().st_size)
    if not candidates:
        return None
    return candidates[0] if column == "cropped image file path" else candidates[-1]


def _one_per_image(records: list[Record]) -> list[Record]:
    """Merge the rows of a mammogram with several abnormalities: malignant if any is, first mask kept."""
    merged: dict[str, Record] = {}
    for record in records:
        first = merged.setdefault(record.path, record)
        if record.label > first.label:
            merged[record.path] = replace(first, label=record.label)
    return list(merged.values())
