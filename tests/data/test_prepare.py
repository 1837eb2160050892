"""prepare_data: split + cache + refusal (or removal) of test images that are also training images."""

import numpy as np
import pytest

from medattn.data.prepare import prepare_data
from medattn.data.records import DataError

from .conftest import write_image


def _dataset(root, duplicate=False):
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for cls in ("a", "b"):
            for i in range(3):
                write_image(root / split / cls / f"{i}.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    if duplicate:
        (root / "test" / "a" / "copy.png").write_bytes((root / "train" / "b" / "1.png").read_bytes())
    return root


def test_clean_data_is_split_and_cached(tmp_path):
    data = prepare_data(_dataset(tmp_path / "d"), image_size=8, cache_root=tmp_path / "c", seed=0)
    assert len(data.indices("test")) == 6 and len(data.indices("train")) + len(data.indices("val")) == 6
    assert data.removed == ()


def test_cross_split_duplicate_is_refused_by_default(tmp_path):
    with pytest.raises(DataError, match=r"1 images appear in more than one split"):
        prepare_data(_dataset(tmp_path / "d", duplicate=True), image_size=8, cache_root=tmp_path / "c")


def test_cross_split_duplicate_is_removed_from_the_test_split_on_request(tmp_path):
    data = prepare_data(
        _dataset(tmp_path / "d", duplicate=True), image_size=8, cache_root=tmp_path / "c", duplicates="train"
    )
    test_paths = [data.source.records[i].path for i in data.indices("test")]
    assert len(test_paths) == 6 and not any(p.endswith("copy.png") for p in test_paths)
    assert len(data.removed) == 1 and "copy.png: excluded from test, identical to" in data.removed[0]


def test_or_the_training_copy_is_excluded_to_keep_the_official_test_set_whole(tmp_path):
    data = prepare_data(
        _dataset(tmp_path / "d", duplicate=True), image_size=8, cache_root=tmp_path / "c", duplicates="evaluation"
    )
    assert len(data.indices("test")) == 7
    assert len(data.indices("train")) + len(data.indices("val")) == 5
    assert data.removed[0].endswith("copy.png") and "1.png: excluded from" in data.removed[0]


def test_keep_leaves_the_copies_in_both_splits_as_released(tmp_path):
    data = prepare_data(
        _dataset(tmp_path / "d", duplicate=True), image_size=8, cache_root=tmp_path / "c", duplicates="keep"
    )
    assert len(data.indices("test")) == 7 and len(data.indices("train")) + len(data.indices("val")) == 6
    assert data.removed == ()


def test_an_unknown_duplicate_policy_is_refused(tmp_path):
    with pytest.raises(ValueError, match="duplicate policy"):
        prepare_data(_dataset(tmp_path / "d"), image_size=8, cache_root=tmp_path / "c", duplicates="both")


def test_a_single_class_is_refused(tmp_path):
    for i in range(3):
        write_image(tmp_path / "d" / "only" / f"{i}.png", np.full((4, 4), i, np.uint8))
    with pytest.raises(DataError, match="only one class \\('only'\\)"):
        prepare_data(tmp_path / "d", image_size=8, cache_root=tmp_path / "c")
