"""What every recipe shares: the Recipe record, option checks and helpers for release layouts."""

import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from medattn.data.records import DataError, DataSource, Record
from medattn.data.sources import IMAGE_SUFFIXES
from medattn.errors import ConfigError, choose


@dataclass(frozen=True)
class Recipe:
    """A dataset's native release layout mapped to a DataSource.

    Attributes:
        name: registry key, the dataset's usual name.
        load: ``load(root, **options) -> DataSource``; the options are its keyword-only parameters,
            so their names and defaults are read from its signature (never listed twice).
    """

    name: str
    load: Callable[..., DataSource]

    @property
    def options(self) -> dict[str, object]:
        """Option names mapped to their defaults."""
        parameters = inspect.signature(self.load).parameters.values()
        return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}

    @property
    def summary(self) -> str:
        """The first line of the loader's docstring."""
        return (inspect.getdoc(self.load) or "").splitlines()[0]


def choice(kind: str, value: object, valid: Iterable[str], where: str | None = None) -> str:
    """``str(value)`` if it is one of ``valid``, else a DataError listing the choices (prefixed by ``where``)."""
    try:
        return choose(kind, str(value), valid)
    except ConfigError as exc:
        raise DataError(f"{where}: {exc}" if where else str(exc)) from None


def find_dir(root: Path, candidates: Iterable[str], what: str) -> Path:
    """The first ``root/candidate`` folder that exists ("." is root itself)."""
    candidates = list(candidates)
    for candidate in candidates:
        folder = root / candidate
        if folder.is_dir():
            return folder
    raise DataError(f"{root}: expected {what} (looked for {', '.join(c + '/' for c in candidates)})")


def find_file(root: Path, names: Iterable[str], what: str) -> Path:
    """The first ``root/name`` file that exists."""
    names = list(names)
    for name in names:
        if (root / name).is_file():
            return root / name
    raise DataError(f"{root}: expected {what} ({' or '.join(names)})")


def plain_name(value: str, listing: Path) -> str:
    """A file name or id from a metadata file; one that could leave its folder is refused."""
    value = value.strip()
    if not value or value in (".", "..") or "/" in value or "\\" in value:
        raise DataError(f"{listing}: '{value}' is not a plain file name or id")
    return value


def read_listing(path: Path) -> list[str]:
    """The non-empty, stripped lines of a text file listing file names."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    return [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]


def keep_existing(records: Iterable[Record], listing: str) -> tuple[list[Record], list[str]]:
    """Split records into those whose image (and mask) exist and one skipped line per missing file."""
    kept, skipped = [], []
    for record in records:
        missing = next((p for p in (record.path, record.mask) if p is not None and not os.path.isfile(p)), None)
        if missing is None:
            kept.append(record)
        else:
            skipped.append(f"{missing}: file named in {listing} not found")
    return kept, skipped


def images_by_name(folder: Path) -> dict[str, Path]:
    """Every image file under ``folder`` (recursively) keyed by its file name; the first path wins."""
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            found.setdefault(path.name, path)
    return found


def relabel(source: DataSource, name: str, classes: tuple[str, ...], mapping: Mapping[str, str]) -> DataSource:
    """Rename (and merge) the classes of a folder source: ``mapping`` takes old names to new ones."""
    unexpected = [c for c in source.classes if mapping.get(c) not in classes]
    if unexpected:
        raise DataError(
            f"{source.root}: unexpected class folder '{unexpected[0]}' for {name} (expected: {', '.join(mapping)})"
        )
    records = [replace(r, label=classes.index(mapping[source.classes[r.label]])) for r in source.records]
    return DataSource(name, source.root, classes, tuple(records), source.skipped)
