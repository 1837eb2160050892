"""From a path (or nothing) to split, decoded, contamination-checked data ready for training."""

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from medattn.data.cache import DecodedCache, open_cache
from medattn.data.dataset import usable_indices
from medattn.data.records import DataError, DataSource
from medattn.data.sources import open_source
from medattn.data.splits import assign_splits, data_regime

SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}


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


def cross_split_duplicates(source: DataSource, hashes: list[str | None]) -> list[list[int]]:
    """Groups of record indices with identical file content that span more than one split."""
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, digest in enumerate(hashes):
        if digest is not None:
            by_hash[digest].append(i)
    return [ids for ids in by_hash.values() if len({source.records[i].split for i in ids}) > 1]


def _split_rank(split: str | None) -> int:
    return SPLIT_ORDER.get(split, len(SPLIT_ORDER))


def prepare_data(
    path: str | Path,
    *,
    recipe: str | None = None,
    image_size: int,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    regime: float = 1.0,
    drop_duplicates: bool = False,
    cache_root: Path | None = None,
    workers: int = 1,
    progress=None,
) -> PreparedData:
    """Open, split, decode and check a dataset.

    Exact duplicates across splits (the same file content in train and test) would put test
    images into training. They are refused with a DataError, or, with ``drop_duplicates``, the
    copies outside the earliest split (train < val < test) are removed and reported.
    """
    source = assign_splits(open_source(path, recipe), val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    if regime < 1:
        source = data_regime(source, regime, seed=seed)
    cache = open_cache(source.records, image_size, root=cache_root, workers=workers, progress=progress)
    groups = cross_split_duplicates(source, cache.hashes)
    if not groups:
        return PreparedData(source, cache)
    first = sorted(groups[0], key=lambda i: _split_rank(source.records[i].split))
    if not drop_duplicates:
        a, b = source.records[first[0]], source.records[first[1]]
        raise DataError(
            f"{source.root}: {len(groups)} images appear in more than one split (e.g. {a.path} [{a.split}] = "
            f"{b.path} [{b.split}]); see 'medattn audit', or drop the evaluation copies with --drop-duplicates"
        )
    drop = set()
    for ids in groups:
        keep = min(_split_rank(source.records[i].split) for i in ids)
        drop.update(i for i in ids if _split_rank(source.records[i].split) != keep)
    records = source.records
    removed = tuple(f"{records[i].path} [{records[i].split}]: duplicate of another split's image" for i in sorted(drop))
    return PreparedData(source, cache, frozenset(drop), removed)
