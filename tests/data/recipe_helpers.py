"""Builders of tiny fabricated release layouts shared by the recipe tests."""

from pathlib import Path

import pandas as pd
from PIL import Image


def image(path: Path, size: int = 16, value: int = 128) -> Path:
    """A tiny greyscale image; the format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (size, size), value).save(path)
    return path


def table(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def by_name(source) -> dict[str, object]:
    return {Path(r.path).name: r for r in source.records}


def names(source, label: str) -> set[str]:
    return {Path(r.path).name for r in source.records if source.classes[r.label] == label}
