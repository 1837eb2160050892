"""camelyon17: the WILDS Camelyon17 patch release v1.0 (Bandi et al. 2018; Koh et al. 2021)."""

from pathlib import Path

import pandas as pd

from medattn.data.recipes.base import find_file, keep_existing
from medattn.data.records import DataError, DataSource, Record
from medattn.data.sources import read_manifest

CLASSES = ("no_tumor", "tumor")
NUMBERS = ("patient", "node", "x_coord", "y_coord", "tumor", "center", "split")
OOD_SPLITS = {1: "ood_val", 2: "ood_test"}  # WILDS: VAL_CENTER = 1, TEST_CENTER = 2
ID_SPLITS = {0: "train", 1: "val"}  # the metadata's own split column within the training hospitals


def load_camelyon17(root: Path) -> DataSource:
    """Camelyon17-WILDS (Koh et al. 2021): 455,954 96x96 lymph-node patches from 5 hospitals.

    Layout assumed (``camelyon17_v1.0`` as downloaded by the ``wilds`` package)::

        ROOT/metadata.csv   (index), patient, node, x_coord, y_coord, tumor, slide, center, split
        ROOT/patches/patient_004_node_4/patch_patient_004_node_4_x_3328_y_21792.png

    Splits follow WILDS's official scheme: hospitals (``center``) 0, 3 and 4 are in-distribution,
    their rows with ``split`` 0 are ``train`` and with ``split`` 1 are ``val`` (WILDS's id_val);
    hospital 1 is ``ood_val`` (WILDS's OOD "val") and hospital 2 is ``ood_test`` (WILDS's "test").
    There is no in-distribution test split, as in WILDS v1.0. Rows whose patch is missing are
    skipped and reported.

    Returns:
        Classes no_tumor, tumor (the central 32x32 region holds tumour); ``group`` = the patient
        number, zero-padded to three digits as in the patch names.
    """
    csv = find_file(root, ("metadata.csv",), "the Camelyon17-WILDS metadata.csv")
    numbers = _numbers(read_manifest(csv, required=NUMBERS), csv)
    records = []
    for patient, node, x, y, tumor, center, split in numbers.itertuples(index=False):
        if tumor not in (0, 1) or (center not in OOD_SPLITS and split not in ID_SPLITS):
            raise DataError(f"{csv}: row for patch {patient}/{node}/{x}/{y} has tumor {tumor} and split {split}")
        folder = f"patient_{patient:03d}_node_{node}"
        path = root / "patches" / folder / f"patch_{folder}_x_{x}_y_{y}.png"
        records.append(Record(str(path), int(tumor), OOD_SPLITS.get(center) or ID_SPLITS[split], f"{patient:03d}"))
    kept, skipped = keep_existing(records, csv.name)
    return DataSource("camelyon17", root, CLASSES, tuple(kept), tuple(skipped))


def _numbers(table: pd.DataFrame, csv: Path) -> pd.DataFrame:
    """The integer columns of the metadata; a non-integer cell is a DataError naming its row and column."""
    numbers = table[list(NUMBERS)].apply(lambda column: pd.to_numeric(column.str.strip(), errors="coerce"))
    bad = numbers.isna() | (numbers % 1 != 0)
    if bad.any(axis=None):
        rows, columns = bad.to_numpy().nonzero()
        row, column = int(rows[0]), int(columns[0])
        raise DataError(
            f"{csv}: row {row + 2}: {NUMBERS[column]} '{table.iloc[row][NUMBERS[column]]}' is not an integer"
        )
    return numbers.astype(int)
