"""pad-ufes-20: smartphone skin-lesion photographs with patient data (Pacheco et al. 2020)."""

from pathlib import Path

from medattn.data.recipes.base import choice, find_file, images_by_name, plain_name
from medattn.data.records import DataSource, Record
from medattn.data.sources import read_manifest

DIAGNOSES = ("ACK", "BCC", "MEL", "NEV", "SCC", "SEK")
CLASSES = {
    "3": (("nevus", "melanoma", "others"), {"NEV": "nevus", "MEL": "melanoma"}),
    "6": (DIAGNOSES, {d: d for d in DIAGNOSES}),
}


def load_pad_ufes_20(root: Path, *, classes: str = "3") -> DataSource:
    """PAD-UFES-20 (Pacheco et al. 2020): 2,298 clinical photographs of 1,641 lesions, 6 diagnoses.

    Layout assumed (the Mendeley Data release, extracted)::

        ROOT/metadata.csv     columns patient_id, lesion_id, img_id, diagnostic, ... (26 in all)
        ROOT/images/imgs_part_{1,2,3}/[imgs_part_N/]<img_id>      e.g. PAT_46_881_14.png

    Images are found by file name anywhere under ROOT, so any nesting of the image parts works.
    Rows whose image is missing are skipped and reported.

    Args:
        root: the folder holding metadata.csv and the images.
        classes: "3" (default; Piater et al. 2024's task): nevus (NEV), melanoma (MEL) and others
            (ACK, BCC, SCC, SEK). "6": the six diagnoses ACK, BCC, MEL, NEV, SCC, SEK.

    Returns:
        ``split`` None (the release has no split; Piater et al. use it whole as an OOD test set);
        ``group`` = patient_id.
    """
    names, mapping = CLASSES[choice("classes", classes, CLASSES)]
    csv = find_file(root, ("metadata.csv",), "the PAD-UFES-20 metadata CSV")
    table = read_manifest(csv, required=("patient_id", "img_id", "diagnostic"))
    images = images_by_name(root)
    records, skipped = [], []
    for row in table.itertuples(index=False):
        diagnosis = choice("diagnostic", row.diagnostic.strip(), DIAGNOSES, where=str(csv))
        path = images.get(plain_name(row.img_id, csv))
        if path is None:
            skipped.append(f"{root / row.img_id.strip()}: file named in {csv.name} not found under {root}")
            continue
        label = names.index(mapping.get(diagnosis, "others"))
        records.append(Record(str(path), label, group=row.patient_id.strip() or None))
    return DataSource("pad-ufes-20", root, names, tuple(records), tuple(skipped))
