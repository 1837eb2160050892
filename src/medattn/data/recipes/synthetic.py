"""synthetic: a dataset written by ``medattn synth`` (the embedded synthetic lesion benchmark)."""

from pathlib import Path

from medattn.data.records import DataSource
from medattn.data.sources import csv_source


def load_synthetic(root: Path) -> DataSource:
    """The synthetic lesion benchmark: ``ROOT/manifest.csv`` with images/ and masks/.

    Classes keep the writer's order (label 0 ``normal``, label 1 ``lesion``), so the positive
    class of binary metrics is the lesion; splits and patient groups come from the manifest.
    """
    from medattn.data.synthetic import CLASSES, MANIFEST

    return csv_source(root / MANIFEST, classes=list(CLASSES), name="synthetic")
