"""From a path (or nothing) to split, decoded, contamination-checked data ready for training."""

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from medattn.data.audit import DUPLICATE_POLICIES, duplicate_group, duplicates_to_drop
from medattn.data.cache import DecodedCache, open_cache
from medattn.data.dataset import usable_indices
from medattn.data.records import DataError, DataSource
from medattn.data.sources import open_source
from medattn.data.splits import assign_splits, data_regime
from medattn.errors import choose


@dataclass
class PreparedData:
    """Split data with its decoded cache.

    Attributes:
        source: the records, splits assigned.
        cache: decoded images of ``source.records``, row i = record i.
        excluded: records left out of every split (evaluation copies of another split's image).
        removed: one line per excluded record.
    """

    source: DataSource
    cache: DecodedCache
    excluded: frozenset[int] = frozenset()
    removed: tuple[str, ...] = ()

    def indices(self, split: str) -> list[int]:
        """Records of ``split`` that decoded and were not excluded."""
        return [i for i in usable_indices(self.source.records, self.cache, split) if i not in self.excluded]


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
    cache_root: Path | None = None,
    workers: int = 1,
    progress=None,
) -> PreparedData:
    """Open, split, decode and check a dataset.

    Exact duplicates across splits (the same file content in train and test) would put test
    images into training. ``duplicates="refuse"`` raises a DataError; ``"train"`` keeps the
    training copy and excludes the evaluation copies; ``"evaluation"`` keeps the evaluation copy
    (the official test set stays whole) and excludes the training copies. Excluded records are
    reported, one line each. ``"keep"`` uses the release as it is, copies in both splits: evaluation
    then scores images the model was trained on; it exists only to reproduce studies that did so.
    """
    choose("duplicate policy", duplicates, ("refuse", "keep", *DUPLICATE_POLICIES))
    source = open_source(path, recipe)
    if len(source.classes) < 2:
        raise DataError(f"{source.root}: only one class ('{source.classes[0]}'); a classifier needs at least two")
    source = assign_splits(source, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    if regime < 1:
        source = data_regime(source, regime, seed=seed)
    cache = open_cache(source.records, image_size, root=cache_root, workers=workers, progress=progress)
    groups = cross_split_duplicates(source, cache.hashes)
    if not groups or duplicates == "keep":
        return PreparedData(source, cache)
    if duplicates == "refuse":
        a, b = groups[0]["members"][:2]
        raise DataError(
            f"{source.root}: {len(groups)} images appear in more than one split (e.g. {a['path']} [{a['split']}] = "
            f"{b['path']} [{b['split']}]); see 'medattn audit', or choose which copy to keep with --duplicates"
        )
    drop = duplicates_to_drop(groups, duplicates)
    excluded = [i for i, r in enumerate(source.records) if (r.path, r.split) in drop]
    removed = tuple(
        f"{source.records[i].path}: excluded from {source.records[i].split}, identical to "
        f"{drop[source.records[i].path, source.records[i].split][1]}"
        for i in excluded
    )
    return PreparedData(source, cache, frozenset(excluded), removed)
