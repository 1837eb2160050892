"""covid-ct: the UCSD-AI4H COVID-CT release (Zhao et al. 2020), Rao et al. 2023's CT set."""

from pathlib import Path

from medattn.data.recipes.base import find_dir, images_by_name, keep_existing, read_listing
from medattn.data.records import SPLITS, DataSource, Record, inside_root

CLASSES = ("non_covid", "covid")
FOLDERS = {"non_covid": ("NonCOVID", "CT_NonCOVID"), "covid": ("COVID", "CT_COVID")}


def load_covid_ct(root: Path) -> DataSource:
    """COVID-CT (Zhao et al. 2020): 349 COVID and 397 non-COVID CT slices, official split.

    Layout assumed (the GitHub repository UCSD-AI4H/COVID-CT with its image zips extracted)::

        ROOT/Images-processed/CT_COVID/*.png           (CT_COVID.zip)
        ROOT/Images-processed/CT_NonCOVID/*.{png,jpg}  (CT_NonCOVID.zip)
        ROOT/Data-split/COVID/{train,val,test}CT_COVID.txt        one file name per line
        ROOT/Data-split/NonCOVID/{train,val,test}CT_NonCOVID.txt

    The image folders may also sit directly in ROOT. A listed file that is missing is skipped;
    an image listed in no split file is left out, and both are reported in ``skipped``.

    Returns:
        Classes non_covid, covid; splits train/val/test from the Data-split lists. ``group`` is
        None: patient ids exist only in the release's .xlsx meta files, which are not read.
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
    return DataSource("covid-ct", root, CLASSES, tuple(kept), tuple(missing + skipped))
