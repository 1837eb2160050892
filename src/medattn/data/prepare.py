"""From a path (or nothing) to split, decoded, contamination-checked data ready for training.

Nothing is lost in silence: every file the dataset names but training cannot use (unreadable,
a decompression bomb, a mask that does not fit its image, a manifest entry whose file is missing,
a broken symbolic link) is a ``DroppedFile``, and more than ``max_dropped`` of them (a fraction of
the files, default ``MAX_DROPPED``) stops preparation with a one-line error. Records left out on
purpose (the ``duplicates`` policy) are listed with their reason too.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medattn.data.audit import DUPLICATE_POLICIES, duplicate_group, duplicates_to_drop, group_leaks, kept_split
from medattn.data.cache import DecodedCache, open_cache
from medattn.data.dataset import usable_indices
from medattn.data.records import DataError, DataSource
from medattn.data.sources import open_source
from medattn.data.splits import assign_splits, data_regime
from medattn.errors import ConfigError, choose

MAX_DROPPED = 0.05  # a dataset that loses more of its files than this is refused unless allowed


@dataclass(frozen=True)
class DroppedFile:
    """A file training does not use: its path, split (None when it never got one) and why."""

    path: str
    split: str | None
    reason: str


@dataclass
class PreparedData:
    """Split data with its decoded cache.

    Attributes:
        source: the records, splits assigned.
        cache: decoded images of ``source.records``, row i = record i.
        exclusions: why each excluded record (by index) is left out of every split: an evaluation
            copy of another split's image, or a patient who is also in another split.
        dropped: the files that cannot be used (see the module docstring).
    """

    source: DataSource
    cache: DecodedCache
    exclusions: dict[int, str] = field(default_factory=dict)
    dropped: tuple[DroppedFile, ...] = ()

    @property
    def excluded(self) -> frozenset[int]:
        """Indices of the records left out of every split."""
        return frozenset(self.exclusions)

    @property
    def removed(self) -> tuple[str, ...]:
        """One line per excluded record: its path and why."""
        return tuple(f"{self.source.records[i].path}: {reason}" for i, reason in self.exclusions.items())

    def indices(self, split: str) -> list[int]:
        """Records of ``split`` that decoded and were not excluded."""
        return [i for i in usable_indices(self.source.records, self.cache, split) if i not in self.exclusions]

    def listing(self) -> list[DroppedFile]:
        """Every file not used: the dropped ones, then the excluded records (what ``dropped.csv`` holds)."""
        records = self.source.records
        excluded = [DroppedFile(records[i].path, records[i].split, reason) for i, reason in self.exclusions.items()]
        return [*self.dropped, *excluded]


def cross_split_duplicates(source: DataSource, hashes: list[str | None]) -> list[dict]:
    """Exact-duplicate groups (identical file content) that span more than one split, in audit form."""
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, digest in enumerate(hashes):
        if digest is not None:
            by_hash[digest].append(i)
    groups = [[source.records[i] for i in ids] for ids in by_hash.values()]
    return [duplicate_group(source, "exact", members) for members in groups if len({r.split for r in members}) > 1]


def prepare_data(
    path: str | Path,
    *,
    recipe: str | None = None,
    image_size: int,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    regime: float = 1.0,
    duplicates: str = "refuse",
    max_dropped: float = MAX_DROPPED,
    cache_root: Path | None = None,
    workers: int = 1,
    progress=None,
) -> PreparedData:
    """Open, split, decode and check a dataset.

    Exact duplicates across splits (the same file content in train and test) would put test
    images into training, and so would a patient (record group) in two splits. The
    ``duplicates`` policy governs both: ``"refuse"`` raises a DataError; ``"train"`` keeps the
    training copy (the patient's training images) and excludes the evaluation ones;
    ``"evaluation"`` keeps the evaluation copy (the official test set stays whole) and excludes the
    training ones. Excluded records are reported, one line each. ``"keep"`` uses the release as it
    is: evaluation then scores images (or patients) the model was trained on; it exists only to
    reproduce studies that did so.

    Files that cannot be used are dropped and listed in ``PreparedData.dropped``; when they are
    more than ``max_dropped`` (0-1) of the dataset's files a DataError names the first of them.
    """
    choose("duplicate policy", duplicates, ("refuse", "keep", *DUPLICATE_POLICIES))
    if isinstance(max_dropped, bool) or not isinstance(max_dropped, int | float) or not 0 <= max_dropped <= 1:
        raise ConfigError(f"max_dropped {max_dropped!r} is not a fraction between 0 and 1")
    source = open_source(path, recipe)
    if len(source.classes) < 2:
        raise DataError(f"{source.root}: only one class ('{source.classes[0]}'); a classifier needs at least two")
    source = assign_splits(source, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    if regime < 1:
        source = data_regime(source, regime, seed=seed)
    cache = open_cache(source.records, image_size, root=cache_root, workers=workers, progress=progress)
    dropped = dropped_files(source, cache)
    check_dropped(source, dropped, max_dropped)
    return PreparedData(source, cache, contamination_exclusions(source, cache, duplicates), tuple(dropped))


def dropped_files(source: DataSource, cache: DecodedCache) -> list[DroppedFile]:
    """The source's skipped entries, then the records whose image (or mask) did not decode."""
    dropped = [DroppedFile(*_path_and_reason(line)) for line in source.skipped]
    for i, problem in zip(np.flatnonzero(~cache.valid), cache.problems, strict=True):
        record = source.records[i]
        dropped.append(DroppedFile(record.path, record.split, problem.removeprefix(f"{record.path}: ")))
    return dropped


def _path_and_reason(line: str) -> tuple[str, None, str]:
    path, _, reason = line.partition(": ")  # skipped lines read "PATH: problem"
    return path, None, reason


def check_dropped(source: DataSource, dropped: list[DroppedFile], max_dropped: float) -> None:
    """Raise a DataError when ``dropped`` is more than ``max_dropped`` of the files ``source`` names."""
    total = len(source.records) + len(source.skipped)
    if len(dropped) <= max_dropped * total:
        return
    first = dropped[0]
    raise DataError(
        f"{source.root}: {len(dropped)} of {total} files cannot be used ({len(dropped) / total:.0%}, more than "
        f"max_dropped {max_dropped:g}), e.g. {first.path}: {first.reason}; see 'medattn audit', fix or remove "
        f"them, or raise data.max_dropped (--max-dropped)"
    )


def contamination_exclusions(source: DataSource, cache: DecodedCache, policy: str) -> dict[int, str]:
    """Which records the ``duplicates`` policy leaves out, and why (see ``prepare_data``)."""
    groups, leaks = cross_split_duplicates(source, cache.hashes), group_leaks(source)
    if policy == "keep" or not (groups or leaks):
        return {}
    if policy == "refuse":
        raise _contamination_error(source, groups, leaks)
    drop = duplicates_to_drop(groups, policy)
    exclusions = {
        i: f"excluded from {r.split}, identical to {drop[r.path, r.split][1]}"
        for i, r in enumerate(source.records)
        if (r.path, r.split) in drop
    }
    keep = {leak["group"]: kept_split(leak["splits"], policy) for leak in leaks}
    for i, r in enumerate(source.records):
        if i not in exclusions and r.group in keep and r.split != keep[r.group]:
            exclusions[i] = f"excluded from {r.split}, its group '{r.group}' is also in {keep[r.group]}"
    return exclusions


def _contamination_error(source: DataSource, groups: list[dict], leaks: list[dict]) -> DataError:
    fix = "see 'medattn audit', or choose which copy to keep with --duplicates"
    if groups:
        a, b = groups[0]["members"][:2]
        return DataError(
            f"{source.root}: {len(groups)} images appear in more than one split (e.g. {a['path']} [{a['split']}] = "
            f"{b['path']} [{b['split']}]); {fix}"
        )
    leak = leaks[0]
    return DataError(
        f"{source.root}: {len(leaks)} group(s) (patients) appear in more than one split (e.g. '{leak['group']}' "
        f"in {' and '.join(leak['splits'])}); {fix}"
    )
