"""ph2: the PH2 dermoscopy release (Mendonca et al. 2013), with lesion masks and dermoscopic criteria."""

from pathlib import Path

import pandas as pd

from medattn.data.recipes.base import choice, find_dir, find_file, keep_existing
from medattn.data.records import DataError, DataSource, Record

DIAGNOSES = ("common_nevus", "atypical_nevus", "melanoma")
TASKS = {"diagnosis": DIAGNOSES, "melanoma": ("nevus", "melanoma")}
DIAGNOSIS_COLUMNS = {"Common Nevus": "common_nevus", "Atypical Nevus": "atypical_nevus", "Melanoma": "melanoma"}
# criterion column (header's first line) -> (feature name, the release's codes in their order)
CRITERIA = {
    "Asymmetry": ("asymmetry_rating", ("0", "1", "2")),  # beside the measured mask asymmetry
    "Pigment Network": ("pigment_network", ("AT", "T")),
    "Dots/Globules": ("dots_globules", ("A", "AT", "T")),
    "Streaks": ("streaks", ("A", "P")),
    "Regression Areas": ("regression_areas", ("A", "P")),
    "Blue-Whitish Veil": ("blue_whitish_veil", ("A", "P")),
}
COLOURS = {"White": "white", "Red": "red", "Light-Brown": "light_brown", "Dark-Brown": "dark_brown",
           "Blue-Gray": "blue_gray", "Black": "black"}  # fmt: skip


def load_ph2(root: Path, *, task: str = "diagnosis") -> DataSource:
    """PH2 (Mendonca et al. 2013): 200 dermoscopic images (80 common nevi, 80 atypical nevi, 40 melanomas),
    each with an expert lesion mask and its dermoscopic assessment.

    Layout assumed (the release archive, extracted)::

        ROOT/PH2Dataset/PH2 Dataset images/IMD003/IMD003_Dermoscopic_Image/IMD003.bmp
                                                 /IMD003_lesion/IMD003_lesion.bmp      binary lesion mask
                                                 /IMD003_roi/IMD003_R1_Label4.bmp      colour regions (not read)
        ROOT/PH2Dataset/PH2_dataset.xlsx   a legend block, then one row per image: Image Name, Histological
                                           Diagnosis, an X under Common Nevus / Atypical Nevus / Melanoma,
                                           Asymmetry (0/1/2), Pigment Network (AT/T), Dots/Globules (A/AT/T),
                                           Streaks, Regression Areas, Blue-Whitish Veil (A/P), an X per colour

    ROOT may also be the ``PH2Dataset`` folder itself.

    Args:
        task: ``diagnosis`` (common_nevus, atypical_nevus, melanoma) or ``melanoma`` (nevus = common or
            atypical, vs melanoma).

    Returns:
        The images with their lesion masks; no official split (``split`` None: use repeated stratified
        splits) and no patients (one lesion per image, ``group`` None). ``features`` holds the release's
        dermoscopic criteria per image: ``asymmetry_rating`` as a number (0 symmetric, 1 in one axis, 2 fully
        asymmetric), pigment network / dots-globules / streaks / regression areas / blue-whitish veil as
        categories in the release's codes (A absent, AT atypical, T typical, P present), one 0/1 column per
        colour and their count (``num_colours``).
    """
    classes = TASKS[choice("ph2 task", task, TASKS, "recipe 'ph2'")]
    folder = find_dir(root, ("PH2Dataset", "."), "the PH2Dataset/ folder")
    images = find_dir(folder, ("PH2 Dataset images",), "the 'PH2 Dataset images/' folder")
    sheet = find_file(folder, ("PH2_dataset.xlsx",), "the PH2 criteria sheet")
    table = read_ph2_sheet(sheet)
    records = []
    for name, row in table.iterrows():
        label = classes.index(row["diagnosis"] if task == "diagnosis" else _binary(row["diagnosis"]))
        base = images / name
        image = base / f"{name}_Dermoscopic_Image" / f"{name}.bmp"
        records.append(Record(str(image), label, mask=str(base / f"{name}_lesion" / f"{name}_lesion.bmp")))
    kept, missing = keep_existing(records, sheet.name)
    features = table.drop(columns="diagnosis")
    features.index = [str(images / n / f"{n}_Dermoscopic_Image" / f"{n}.bmp") for n in features.index]
    features = features.loc[[r.path for r in kept]]
    return DataSource("ph2", root, classes, tuple(kept), tuple(missing), features=features)


def _binary(diagnosis: str) -> str:
    return "melanoma" if diagnosis == "melanoma" else "nevus"


def read_ph2_sheet(path: Path) -> pd.DataFrame:
    """The per-image table of PH2_dataset.xlsx, indexed by image name: ``diagnosis`` and the criteria."""
    try:
        raw = pd.read_excel(path, header=None, dtype=str)
    except (OSError, ValueError, ImportError) as error:  # ImportError: openpyxl missing from the install
        raise DataError(f"{path}: cannot read the PH2 sheet ({str(error).splitlines()[0]})") from None
    header_rows = raw.index[raw.iloc[:, 0].astype(str).str.strip() == "Image Name"]
    if not len(header_rows):
        raise DataError(f"{path}: no header row starting with 'Image Name'")
    header = [str(h).split("\n")[0].strip() for h in raw.loc[header_rows[0]]]
    body = raw.loc[header_rows[0] + 1 :].set_axis(header, axis=1)
    body = body[body["Image Name"].notna()].set_index(body["Image Name"].dropna().str.strip())
    needed = [*DIAGNOSIS_COLUMNS, *CRITERIA, *COLOURS]
    absent = [c for c in needed if c not in body.columns]
    if absent:
        raise DataError(f"{path}: column '{absent[0]}' not found in the header row")
    table = pd.DataFrame(index=body.index)
    table["diagnosis"] = [_diagnosis(path, name, row) for name, row in body.iterrows()]
    for column, (feature, codes) in CRITERIA.items():
        values = body[column].str.strip()
        bad = values[~values.isin(codes)]
        if len(bad):
            raise DataError(f"{path}: {bad.index[0]} {column} '{bad.iloc[0]}'; expected one of {', '.join(codes)}")
        numeric = feature == "asymmetry_rating"  # an ordinal rating: a number; the others are categories
        table[feature] = values.astype(float) if numeric else pd.Categorical(values, categories=codes)
    for column, feature in COLOURS.items():
        table[feature] = _marked(body[column]).astype(int)
    table["num_colours"] = table[list(COLOURS.values())].sum(axis=1)
    return table


def _marked(column: pd.Series) -> pd.Series:
    return column.fillna("").str.strip().str.upper() == "X"


def _diagnosis(path: Path, name: str, row: pd.Series) -> str:
    marked = [label for column, label in DIAGNOSIS_COLUMNS.items() if _marked(row[[column]]).iloc[0]]
    if len(marked) != 1:
        raise DataError(f"{path}: {name} has {len(marked)} clinical diagnoses marked; expected exactly one")
    return marked[0]
