"""Split properties: stratification, groups never leak, regimes nest, determinism per seed."""

from collections import Counter
from pathlib import Path

import pytest

from medattn.data.records import DataError, DataSource, Record
from medattn.data.splits import assign_splits, check_group_leaks, data_regime, kfold_splits, repeated_splits
from medattn.errors import ConfigError


def make_source(n=400, positive_every=4, group_size=3, split=None):
    records = [Record(f"/x/{i}.png", int(i % positive_every == 0), split, f"p{i // group_size}") for i in range(n)]
    return DataSource("toy", Path("/x"), ("neg", "pos"), tuple(records))


def _per_split(source):
    return {s: Counter(r.label for r in source.records if r.split == s) for s in ("train", "val", "test")}


def test_stratified_fractions_and_no_group_in_two_splits():
    source = assign_splits(make_source(), val_fraction=0.15, test_fraction=0.15, seed=1)
    counts = _per_split(source)
    for split, fraction in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
        assert abs(counts[split][1] - fraction * 100) <= 4  # 100 positives
        assert abs(counts[split][0] - fraction * 300) <= 6
    check_group_leaks(source)


def test_same_seed_same_split_different_seed_different_split():
    a, b, c = (assign_splits(make_source(), seed=s) for s in (3, 3, 4))
    assert [r.split for r in a.records] == [r.split for r in b.records] != [r.split for r in c.records]


def test_official_splits_are_kept_and_val_carved_from_train():
    records = list(make_source(100, split="train").records) + [Record("/x/t.png", 1, "test", "other")]
    source = assign_splits(DataSource("toy", Path("/x"), ("neg", "pos"), tuple(records)))
    assert source.records[-1].split == "test"
    assert {r.split for r in source.records[:-1]} == {"train", "val"}


def test_group_leak_is_detected():
    records = (Record("/a", 0, "train", "p1"), Record("/b", 1, "test", "p1"))
    with pytest.raises(DataError, match="group 'p1' is in both 'train' and 'test'"):
        check_group_leaks(DataSource("toy", Path("/"), ("a", "b"), records))


def test_repeated_splits_differ_and_stay_leak_free():
    splits = repeated_splits(make_source(120), 10)
    assert len(splits) == 10 and len({tuple(r.split for r in s.records) for s in splits}) == 10
    for s in splits:
        check_group_leaks(s)


def test_kfold_tests_every_record_exactly_once():
    folds = kfold_splits(make_source(120), 5)
    tested = Counter(r.path for fold in folds for r in fold.records if r.split == "test")
    assert set(tested.values()) == {1} and len(tested) == 120
    for fold in folds:
        check_group_leaks(fold)
        assert {"train", "val", "test"} == {r.split for r in fold.records}


def test_regimes_are_stratified_nested_and_keep_a_minimum_per_class():
    source = assign_splits(make_source(1000), seed=0)
    subsets = {
        f: {r.path for r in data_regime(source, f, seed=5).records if r.split == "train"} for f in (0.01, 0.1, 0.5, 1.0)
    }
    assert subsets[0.01] <= subsets[0.1] <= subsets[0.5] <= subsets[1.0]
    train = [r for r in source.records if r.split == "train"]
    tiny = [r for r in data_regime(source, 0.01, seed=5).records if r.split == "train"]
    assert {r.label for r in tiny} == {0, 1}
    assert len(tiny) == sum(-(-sum(r.label == c for r in train) // 100) for c in (0, 1))
    assert [r for r in data_regime(source, 0.1).records if r.split != "train"] == [
        r for r in source.records if r.split != "train"
    ]
    one_each = data_regime(source, 0.0001)
    assert Counter(r.label for r in one_each.records if r.split == "train") == {0: 1, 1: 1}


@pytest.mark.parametrize("kwargs", [dict(val_fraction=0.6, test_fraction=0.5), dict(val_fraction=-0.1)])
def test_invalid_fractions(kwargs):
    with pytest.raises(ConfigError):
        assign_splits(make_source(), **kwargs)
    with pytest.raises(ConfigError):
        data_regime(make_source(), 0)
