"""Decoded cache: built once, reused, refreshed per changed file, unreadable files marked not raised."""

import os

import numpy as np
import torch

from medattn.data.cache import open_cache
from medattn.data.dataset import CachedImageDataset, usable_indices
from medattn.data.records import Record
from medattn.data.transforms import build_transform

from .conftest import write_image


def _records(tmp_path, n=4):
    records = []
    for i in range(n):
        image = np.full((10, 14), 40 * i, np.uint8)
        mask = np.zeros((10, 14), np.uint8)
        mask[2:5, 3:9] = 255
        write_image(tmp_path / f"{i}.png", image)
        write_image(tmp_path / f"m{i}.png", mask)
        records.append(Record(str(tmp_path / f"{i}.png"), i % 2, "train", None, str(tmp_path / f"m{i}.png")))
    return records


def test_cache_decodes_once_and_resizes_images_and_masks(tmp_path):
    records = _records(tmp_path / "data")
    calls = []
    cache = open_cache(records, 8, root=tmp_path / "cache", progress=lambda done, total: calls.append(done))
    assert calls == [1, 2, 3, 4] and cache.valid.all() and cache.grayscale
    assert cache.images.shape == (4, 8, 8, 3) and cache.images[2].max() == 80
    assert set(np.unique(cache.masks[0])) == {0, 1}
    calls.clear()
    again = open_cache(records, 8, root=tmp_path / "cache", progress=lambda done, total: calls.append(done))
    assert calls == [] and np.array_equal(again.images, cache.images)


def test_changed_file_is_decoded_again_and_touched_file_is_not(tmp_path):
    records = _records(tmp_path / "data")
    open_cache(records, 8, root=tmp_path / "cache")
    write_image(tmp_path / "data" / "1.png", np.full((10, 14), 200, np.uint8))
    stat = os.stat(tmp_path / "data" / "3.png")
    os.utime(tmp_path / "data" / "3.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same content
    calls = []
    cache = open_cache(records, 8, root=tmp_path / "cache", progress=lambda done, total: calls.append(done))
    assert calls == [1] and cache.images[1].min() == 200


def test_other_sizes_get_their_own_cache(tmp_path):
    records = _records(tmp_path / "data")
    a, b = open_cache(records, 8, root=tmp_path / "c"), open_cache(records, 6, root=tmp_path / "c")
    assert a.directory != b.directory and b.images.shape == (4, 6, 6, 3)


def test_unreadable_files_are_marked_and_skipped_not_raised(tmp_path):
    records = _records(tmp_path / "data")
    (tmp_path / "data" / "2.png").write_bytes(b"")
    cache = open_cache(records, 8, root=tmp_path / "cache", workers=2)
    assert cache.valid.tolist() == [True, True, False, True]
    assert cache.problems == [f"{tmp_path / 'data' / '2.png'}: empty file (0 bytes)"]
    assert usable_indices(records, cache, "train") == [0, 1, 3]


def test_dataset_serves_transformed_images_labels_and_masks(tmp_path):
    records = _records(tmp_path / "data")
    cache = open_cache(records, 8, root=tmp_path / "cache")
    dataset = CachedImageDataset(cache, records, [0, 3], build_transform(8, "goncalves2021"), with_masks=True)
    image, label, mask = dataset[1]
    assert image.shape == (3, 8, 8) and image.dtype == torch.float32 and label == 1 and mask.shape == (1, 8, 8)
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=2)))
    assert batch[0].shape == (2, 3, 8, 8)
