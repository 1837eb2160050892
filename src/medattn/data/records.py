"""The common form every data source is mapped to: a list of records plus class names."""

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from medattn.errors import ConfigError

SPLITS = ("train", "val", "test")


class DataError(ConfigError):
    """A data file or manifest entry that cannot be used; the message names it and the problem."""


@dataclass(frozen=True)
class Record:
    """One image.

    Attributes:
        path: absolute path of the image file, or ``FILE.npz::split/index`` for array sources.
        label: class index into ``DataSource.classes``.
        split: ``train``/``val``/``test`` (or another named split such as ``ood``); None when the
            source has no official split.
        group: patient (or other) identifier; no group may span two splits.
        mask: absolute path of a binary lesion mask, if any.
    """

    path: str
    label: int
    split: str | None = None
    group: str | None = None
    mask: str | None = None


@dataclass(frozen=True)
class DataSource:
    """A dataset in the common form.

    Attributes:
        name: where it came from (recipe or layout name).
        root: the folder every path lies under.
        classes: class names; a record's label indexes this list.
        records: the images.
        skipped: one line per manifest entry that could not be used (file and problem).
        features: per-image metadata a release annotates (e.g. PH2's dermoscopic criteria), a pandas
            DataFrame indexed by record path (categorical columns as ``category`` dtype), or None.
            ``medattn features`` tests these beside the measured image and mask features.
    """

    name: str
    root: Path
    classes: tuple[str, ...]
    records: tuple[Record, ...]
    skipped: tuple[str, ...] = field(default=())
    features: object = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if not self.records:
            raise DataError(f"{self.root}: no images found for {self.name}")
        counts = Counter(r.label for r in self.records)
        empty = [name for i, name in enumerate(self.classes) if counts[i] == 0]
        if empty:
            raise DataError(f"{self.root}: class '{empty[0]}' has no images")
        bad = [r for r in self.records if not 0 <= r.label < len(self.classes)]
        if bad:
            raise DataError(f"{bad[0].path}: label {bad[0].label} is not a class index of {self.name}")

    def class_counts(self) -> dict[str | None, dict[str, int]]:
        """Images per split per class name."""
        counts: dict = {}
        for r in self.records:
            per_split = counts.setdefault(r.split, dict.fromkeys(self.classes, 0))
            per_split[self.classes[r.label]] += 1
        return counts

    def with_records(self, records, skipped=()) -> "DataSource":
        return replace(self, records=tuple(records), skipped=self.skipped + tuple(skipped))


def inside_root(root: Path, relative: str, source: str) -> Path:
    """Resolve ``relative`` under ``root``; a path that escapes the root, contains a NUL byte, is too
    long for the file system or is a symbolic-link loop raises a DataError naming ``source``."""
    if "\0" in str(relative):
        raise DataError(f"{source}: path {str(relative)!r} contains a NUL byte")
    try:
        path = (root / relative).resolve(strict=True)
    except FileNotFoundError:  # a missing file: the caller reports it
        path = (root / relative).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop before Python 3.13
        raise DataError(f"{source}: path '{relative}' cannot be used ({os_problem(exc)})") from None
    if not path.is_relative_to(root.resolve()):
        raise DataError(f"{source}: path '{relative}' escapes the dataset root {root}")
    return path


def os_problem(exc: Exception) -> str:
    """The operating system's short description of ``exc`` (e.g. 'File name too long')."""
    if isinstance(exc, RuntimeError):
        return "symbolic link loop"
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]


def check_data_path(path: str | Path) -> Path:
    """A dataset path given by the user, checked before anything reads it.

    Raises:
        DataError: the path contains a NUL byte, is too long for the file system, is a
            symbolic-link loop or cannot be read (a missing path is left to the source, which
            says what it expected there).
    """
    if "\0" in str(path):
        raise DataError(f"{str(path)!r}: a path cannot contain a NUL byte")
    path = Path(path)
    try:
        path.stat()
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise DataError(f"{path}: cannot be used ({os_problem(exc)})") from None
    return path
