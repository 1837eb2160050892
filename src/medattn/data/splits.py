"""Leak-free splits: stratified by label, grouped by patient, reproducible by seed.

Official splits are respected; what a source leaves unassigned is split here. Groups (patients)
never straddle two splits. Data regimes subsample the training split in a nested way.
"""

import math
from collections import Counter, defaultdict
from dataclasses import replace

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from medattn.data.records import DataError, DataSource, Record
from medattn.errors import ConfigError


def _group_key(index: int, record: Record) -> str:
    return record.group if record.group is not None else f"__record_{index}"


def _shortfall(labels: Counter, target: dict, current: Counter, totals: Counter) -> float:
    """How much a split still lacks of this group's classes, relative to each class's size."""
    return sum(n * (target[c] - current[c]) / max(totals[c], 1) for c, n in labels.items())


def _assign_groups(records: list[Record], fractions: dict[str, float], seed: int) -> list[str]:
    """Split names for ``records``, assigning whole groups greedily to the split most short of its
    per-class target (groups visited largest first, ties in seeded random order)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        groups[_group_key(i, r)].append(i)
    rng = np.random.default_rng(seed)
    keys = list(groups)
    order = sorted(rng.permutation(len(keys)), key=lambda k: -len(groups[keys[k]]))
    totals = Counter(r.label for r in records)
    targets = {s: {c: f * n for c, n in totals.items()} for s, f in fractions.items()}
    current = {s: Counter() for s in fractions}
    assigned = [""] * len(records)
    for k in order:
        members = groups[keys[k]]
        labels = Counter(records[i].label for i in members)
        split = max(fractions, key=lambda s: _shortfall(labels, targets[s], current[s], totals))
        current[split].update(labels)
        for i in members:
            assigned[i] = split
    return assigned


def assign_splits(source: DataSource, *, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0):
    """Give every record a split, keeping official ones.

    Records without a split are divided into train/val/test by the fractions. When the source has
    an official train and test split but no val, val is carved out of train (``val_fraction`` of
    it). Stratified by label, never splitting a group of unassigned records. A group that the
    official splits already divide, or whose official and unassigned records end up in different
    splits, is left as it is: ``prepare_data`` applies its ``duplicates`` policy to such leaks.

    Raises:
        ConfigError: fractions outside [0, 1) or summing to 1 or more.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(f"split fractions val={val_fraction}, test={test_fraction} must be in [0, 1) and sum < 1")
    splits = {r.split for r in source.records}
    if None in splits:
        pool = [i for i, r in enumerate(source.records) if r.split is None]
        fractions = {"train": 1 - val_fraction - test_fraction, "val": val_fraction, "test": test_fraction}
    elif "val" not in splits and "train" in splits:
        pool = [i for i, r in enumerate(source.records) if r.split == "train"]
        fractions = {"train": 1 - val_fraction, "val": val_fraction}
    else:
        return source
    fractions = {s: f for s, f in fractions.items() if f > 0}
    names = _assign_groups([source.records[i] for i in pool], fractions, seed)
    records = list(source.records)
    for i, name in zip(pool, names, strict=True):
        records[i] = replace(records[i], split=name)
    return source.with_records(records)


def check_group_leaks(source: DataSource) -> None:
    """Raise a DataError if one group (patient) appears in two splits."""
    seen: dict[str, str] = {}
    for r in source.records:
        if r.group is None:
            continue
        other = seen.setdefault(r.group, r.split)
        if other != r.split:
            raise DataError(f"{source.root}: group '{r.group}' is in both '{other}' and '{r.split}' splits")


def repeated_splits(source: DataSource, repeats: int, **fractions) -> list[DataSource]:
    """``repeats`` independent random splits (seeds 0..repeats-1), as seed 004's 10 splits.

    Official splits are ignored here: the point is to vary the test set.
    """
    unassigned = source.with_records([replace(r, split=None) for r in source.records])
    return [assign_splits(unassigned, seed=seed, **fractions) for seed in range(repeats)]


def kfold_splits(source: DataSource, folds: int, *, val_fraction: float = 0.15, seed: int = 0) -> list[DataSource]:
    """Stratified, group-aware k-fold: fold i is the test split, val is carved from the rest."""
    if folds < 2:
        raise ConfigError(f"k-fold needs at least 2 folds, got {folds}")
    labels = [r.label for r in source.records]
    groups = [_group_key(i, r) for i, r in enumerate(source.records)]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    result = []
    for fold, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
        test_set = set(test.tolist())
        records = [replace(r, split="test" if i in test_set else "train") for i, r in enumerate(source.records)]
        result.append(assign_splits(source.with_records(records), val_fraction=val_fraction, seed=seed + fold))
    return result


def data_regime(source: DataSource, fraction: float, *, seed: int = 0) -> DataSource:
    """Keep ``fraction`` of the training split, stratified, with at least one image per class.

    Regimes are nested: for one seed, the 1 % subset lies inside the 10 % subset, which lies inside
    the 50 % subset (each class's training images are ranked once by a seeded permutation and the
    first ``ceil(fraction * n)`` are kept). Other splits are untouched.
    """
    if not 0 < fraction <= 1:
        raise ConfigError(f"data regime fraction must be in (0, 1], got {fraction}")
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(source.records):
        if r.split == "train":
            by_class[r.label].append(i)
    if not by_class:
        raise DataError(f"{source.root}: no training split to take a {fraction:.0%} regime of")
    keep = set()
    for label, indices in sorted(by_class.items()):
        ranked = np.random.default_rng([seed, label]).permutation(indices)
        keep.update(ranked[: max(1, math.ceil(fraction * len(indices)))].tolist())
    return source.with_records([r for i, r in enumerate(source.records) if r.split != "train" or i in keep])
