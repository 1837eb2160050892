"""covid-ct: the UCSD-AI4H COVID-CT release (Zhao et al. 2020), Rao et al. 2023's CT set."""

import re
from dataclasses import replace
from pathlib import Path

from medattn.data.recipes.base import find_dir, images_by_name, keep_existing, read_listing
from medattn.data.records import SPLITS, DataError, DataSource, Record, inside_root

CLASSES = ("non_covid", "covid")
FOLDERS = {"non_covid": ("NonCOVID", "CT_NonCOVID"), "covid": ("COVID", "CT_COVID")}
META = {"covid": "COVID-CT-MetaInfo.xlsx", "non_covid": "NonCOVID-CT-MetaInfo.csv"}


def load_covid_ct(root: Path) -> DataSource:
    """COVID-CT (Zhao et al. 2020): 349 COVID and 397 non-COVID CT slices, official split.

    Layout assumed (the GitHub repository UCSD-AI4H/COVID-CT with its image zips extracted)::

        ROOT/Images-processed/CT_COVID/*.png           (CT_COVID.zip)
        ROOT/Images-processed/CT_NonCOVID/*.{png,jpg}  (CT_NonCOVID.zip)
        ROOT/Data-split/COVID/{train,val,test}CT_COVID.txt        one file name per line
        ROOT/Data-split/NonCOVID/{train,val,test}CT_NonCOVID.txt

    The image folders may also sit directly in ROOT. A listed file that is missing is skipped;
    an image listed in no split file is left out, and both are reported in ``skipped``.

        ROOT/COVID-CT-MetaInfo.xlsx    File name, Patient ID, ... of every COVID image
        ROOT/NonCOVID-CT-MetaInfo.csv  image name, patient id of every non-COVID image

    Returns:
        Classes non_covid, covid; splits train/val/test from the Data-split lists. ``group`` is the
        patient from the meta files: COVID patient ids restart per source paper ("Patient 1" of two
        preprints are two people), so a COVID patient is (source, id), the source being the file
        name's stem before its page marker (``2020.02.25.20021568-p17-91`` -> ``2020.02.25.20021568``);
        non-COVID ids (``crawled_patient_12``, ``medpix_patient_3``) are unique as they are. Without a
        meta file the group is None and ``skipped`` says so.
    """
    records, skipped = [], []
    for label, name in enumerate(CLASSES):
        split_name, folder_name = FOLDERS[name]
        folder = find_dir(root, (f"Images-processed/{folder_name}", folder_name), f"the {folder_name}/ image folder")
        listed = set()
        for split in SPLITS:
            listing = root / "Data-split" / split_name / f"{split}{folder_name}.txt"
            for file_name in read_listing(listing):
                path = inside_root(folder, file_name, str(listing))
                listed.add(path)
                records.append(Record(str(path), label, split))
        unlisted = sorted(set(images_by_name(folder).values()) - listed)
        skipped += [f"{path}: listed in no Data-split file; left out" for path in unlisted]
    kept, missing = keep_existing(records, "a Data-split list")
    patients, unknown = {}, []
    for name in CLASSES:
        found, note = _patients(root, name)
        patients |= found
        unknown += note
    kept = [replace(r, group=patients.get(_stem(Path(r.path).name))) for r in kept]
    return DataSource("covid-ct", root, CLASSES, tuple(kept), tuple(missing + skipped + unknown))


def _stem(file_name: str) -> str:
    """The meta files name images with or without their extension."""
    return re.sub(r"\.(png|jpe?g)$", "", file_name.strip(), flags=re.IGNORECASE)


def source_paper(file_name: str) -> str:
    """The paper a COVID image was cropped from: the file name's stem before ``-p<page>``, else before
    the first ``_`` or ``%`` (``PIIS0140673620303603%2`` -> ``PIIS0140673620303603``)."""
    stem = _stem(file_name)
    paged = re.match(r"^(.*?)-p\d+(-.*)?$", stem)
    return paged.group(1) if paged else re.split(r"[_%]", stem)[0]


def _patients(root: Path, name: str) -> tuple[dict[str, str], list[str]]:
    """Image stem -> patient for one class from its meta file, and a note when the file is absent."""
    import pandas as pd

    path = root / META[name]
    if not path.is_file():
        return {}, [f"{path}: not found; {name} images have no patient (patient leakage cannot be checked)"]
    try:
        table = pd.read_excel(path) if path.suffix == ".xlsx" else pd.read_csv(path)
    except (OSError, ValueError, ImportError) as error:  # ImportError: openpyxl missing from the install
        raise DataError(f"{path}: cannot read the meta file ({str(error).splitlines()[0]})") from None
    columns = ("File name", "Patient ID") if name == "covid" else ("image name", "patient id")
    if not set(columns) <= set(table.columns):
        raise DataError(f"{path}: expected columns {', '.join(columns)}; found {', '.join(map(str, table.columns))}")
    table = table.dropna(subset=list(columns))
    files, ids = table[columns[0]].astype(str), table[columns[1]].astype(str).str.strip()
    if name == "covid":
        return {_stem(f): f"{source_paper(f)}/{i}" for f, i in zip(files, ids, strict=True)}, []
    return {_stem(f): i for f, i in zip(files, ids, strict=True)}, []
