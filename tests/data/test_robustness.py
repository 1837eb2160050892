"""Hostile data: symlinks out of the root and loops, broken files, odd paths and splits, a full disk.

Each case is a one-line DataError naming the file (or CSV row), or a file dropped, counted and
listed; never a traceback, a hang or a silent loss.
"""

import errno
import os

import numpy as np
import pytest

from medattn.data.audit import audit_source
from medattn.data.cache import open_cache
from medattn.data.prepare import prepare_data
from medattn.data.records import DataError, Record
from medattn.data.sources import open_source
from medattn.errors import ConfigError

from .robustness_helpers import (
    SIDE,
    bomb_png,
    folder_dataset,
    image_file,
    masked_manifest,
    truncated_png,
    write_manifest,
)


def _one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# symbolic links


def test_folder_symlink_to_a_file_outside_the_root_is_refused(tmp_path):
    root = folder_dataset(tmp_path / "d")
    secret = image_file(tmp_path / "outside" / "secret.png")
    (root / "a" / "link.png").symlink_to(secret)
    with pytest.raises(DataError) as error:
        open_source(root)
    assert "a/link.png: symbolic link to" in _one_line(error) and "outside the dataset root" in str(error.value)


def test_class_folder_linking_outside_the_root_is_refused(tmp_path):
    root = folder_dataset(tmp_path / "d")
    folder_dataset(tmp_path / "elsewhere")
    (root / "c").symlink_to(tmp_path / "elsewhere" / "a", target_is_directory=True)
    with pytest.raises(DataError, match="outside the dataset root"):
        open_source(root)


def test_symlinked_folder_inside_the_root_is_followed(tmp_path):
    root = tmp_path / "d"
    folder_dataset(root / "train")
    image_file(root / "extra" / "e.png", seed=77)  # not a split folder: only reachable through the link
    (root / "train" / "a" / "more").symlink_to(root / "extra", target_is_directory=True)
    paths = [r.path for r in open_source(root).records]
    assert str(root / "train" / "a" / "more" / "e.png") in paths


@pytest.mark.parametrize("loop", ["folder", "file"])
def test_symlink_loops_are_one_line_errors_not_hangs(tmp_path, loop):
    root = folder_dataset(tmp_path / "d")
    if loop == "folder":
        (root / "b" / "loop").symlink_to(root / "b", target_is_directory=True)
    else:
        (root / "b" / "x.png").symlink_to(root / "b" / "y.png")
        (root / "b" / "y.png").symlink_to(root / "b" / "x.png")
    with pytest.raises(DataError) as error:
        open_source(root)
    message = _one_line(error)
    assert str(root / "b") in message and ("loop" in message or "Too many levels of symbolic links" in message)


def test_broken_symlink_is_skipped_and_reported(tmp_path):
    root = folder_dataset(tmp_path / "d")
    (root / "a" / "gone.png").symlink_to(root / "a" / "nothing.png")
    source = open_source(root)
    assert source.skipped == (f"{root / 'a' / 'gone.png'}: broken symbolic link",)


def test_csv_row_naming_a_symlink_loop_is_a_one_line_error(tmp_path):
    (tmp_path / "l1.png").symlink_to(tmp_path / "l2.png")
    (tmp_path / "l2.png").symlink_to(tmp_path / "l1.png")
    csv_path = write_manifest(tmp_path / "m.csv", [("l1.png", "a")])
    with pytest.raises(DataError, match=r"m\.csv row 2: path 'l1\.png' cannot be used"):
        open_source(csv_path)


# odd paths and split values


@pytest.mark.parametrize(
    "split, message",
    [("NaN", "row 3: split 'NaN' is not train, val or test"), ("holdout", "row 3: split 'holdout' is not")],
)
def test_csv_split_that_names_no_split_is_refused(tmp_path, split, message):
    image_file(tmp_path / "0.png", seed=0)
    image_file(tmp_path / "1.png", seed=1)
    csv_path = write_manifest(tmp_path / "m.csv", [("0.png", "a", "Train"), ("1.png", "b", split)],
                              ("path", "label", "split"))  # fmt: skip
    with pytest.raises(DataError, match=message) as error:
        open_source(csv_path)
    assert str(csv_path) in _one_line(error)


def test_csv_path_with_a_nul_byte_or_a_name_too_long_names_the_row(tmp_path):
    image_file(tmp_path / "0.png")
    for bad, problem in (("x\0y.png", "contains a NUL byte"), ("y" * 300 + ".png", "File name too long")):
        csv_path = write_manifest(tmp_path / "m.csv", [("0.png", "a"), (bad, "b")])
        with pytest.raises(DataError, match="m.csv row 3") as error:
            open_source(csv_path)
        assert problem in _one_line(error)


def test_dataset_path_with_a_nul_byte_or_a_name_too_long_is_refused(tmp_path):
    with pytest.raises(DataError, match="cannot contain a NUL byte"):
        prepare_data(f"{tmp_path}/x\0y", image_size=SIDE, cache_root=tmp_path / "c")
    with pytest.raises(DataError, match="File name too long") as error:
        prepare_data(tmp_path / ("y" * 300), image_size=SIDE, cache_root=tmp_path / "c")
    _one_line(error)


# files that cannot be used


def test_unusable_files_are_dropped_listed_and_counted(tmp_path):
    root = folder_dataset(tmp_path / "d", per_class=20)
    truncated_png(root / "a" / "truncated.png")
    bomb_png(root / "b" / "bomb.png")
    data = prepare_data(root, image_size=SIDE, cache_root=tmp_path / "c", max_dropped=0.1)
    reasons = {os.path.basename(d.path): d.reason for d in data.dropped}
    assert set(reasons) == {"truncated.png", "bomb.png"}
    assert reasons["truncated.png"].startswith("cannot decode image")
    assert "too large" in reasons["bomb.png"]
    used = {data.source.records[i].path for split in ("train", "val", "test") for i in data.indices(split)}
    assert len(used) == 40 and not any(p.endswith(("truncated.png", "bomb.png")) for p in used)
    assert data.listing() == list(data.dropped)


def test_more_dropped_files_than_allowed_stop_preparation(tmp_path):
    root = folder_dataset(tmp_path / "d", per_class=5)
    truncated_png(root / "a" / "truncated.png")
    bomb_png(root / "b" / "bomb.png")
    with pytest.raises(DataError, match=r"2 of 12 files cannot be used \(17%, more than max_dropped 0.05\)") as error:
        prepare_data(root, image_size=SIDE, cache_root=tmp_path / "c")
    assert "--max-dropped" in _one_line(error)
    assert len(prepare_data(root, image_size=SIDE, cache_root=tmp_path / "c", max_dropped=0.2).dropped) == 2


@pytest.mark.parametrize("value", [-0.1, 1.5, "abc", float("nan")])
def test_max_dropped_must_be_a_fraction(tmp_path, value):
    with pytest.raises(ConfigError, match="is not a fraction between 0 and 1"):
        prepare_data(folder_dataset(tmp_path / "d"), image_size=SIDE, cache_root=tmp_path / "c", max_dropped=value)


def test_missing_manifest_files_count_as_dropped(tmp_path):
    for i in range(4):
        image_file(tmp_path / f"{i}.png", seed=i)
    rows = [(f"{i}.png", "ab"[i % 2]) for i in range(4)] + [("gone.png", "a")]
    with pytest.raises(DataError, match="1 of 5 files cannot be used"):
        prepare_data(write_manifest(tmp_path / "m.csv", rows), image_size=SIDE, cache_root=tmp_path / "c")


def test_image_with_a_mask_of_another_size_is_dropped_and_audited(tmp_path):
    csv_path = masked_manifest(tmp_path / "d")
    data = prepare_data(csv_path, image_size=SIDE, cache_root=tmp_path / "c", max_dropped=0.5)
    (dropped,) = data.dropped
    assert dropped.path.endswith("img/0.png") and "mask is 16x16 but its image is 32x32" in dropped.reason
    report = audit_source(open_source(csv_path), workers=1)
    (problem,) = report["mask_problems"]
    assert problem["path"].endswith("img/0.png") and problem["problem"] == "mask is 16x16 but its image is 32x32"
    assert any(line.startswith("1 image(s) whose mask cannot be used") for line in report["findings"])


def test_matching_masks_give_no_mask_findings(tmp_path):
    report = audit_source(open_source(masked_manifest(tmp_path / "d", bad_mask=False)), workers=1)
    assert report["mask_problems"] == [] and not any("mask" in line for line in report["findings"])


# a patient in two official splits


def _leaky_manifest(root):
    splits = ["train", "train", "val", "val", "test", "test", "train", "test"]
    rows = []
    for i, split in enumerate(splits):
        image_file(root / f"{i}.png", seed=i)
        rows.append((f"{i}.png", "ab"[i % 2], split, "p7" if i >= 6 else f"p{i}"))
    return write_manifest(root / "m.csv", rows, ("path", "label", "split", "group"))


def test_patient_in_two_official_splits_is_refused_by_default(tmp_path):
    with pytest.raises(DataError, match=r"1 group\(s\) \(patients\) appear in more than one split") as error:
        prepare_data(_leaky_manifest(tmp_path / "d"), image_size=SIDE, cache_root=tmp_path / "c")
    assert "'p7' in train and test" in _one_line(error) and "--duplicates" in str(error.value)


@pytest.mark.parametrize("policy, left_out", [("train", "7.png"), ("evaluation", "6.png"), ("keep", None)])
def test_the_duplicates_policy_decides_which_split_keeps_the_patient(tmp_path, policy, left_out):
    data = prepare_data(_leaky_manifest(tmp_path / "d"), image_size=SIDE, cache_root=tmp_path / "c",
                        duplicates=policy)  # fmt: skip
    excluded = [os.path.basename(data.source.records[i].path) for i in data.excluded]
    assert excluded == ([left_out] if left_out else [])
    if left_out:
        assert "its group 'p7' is also in" in data.removed[0] and data.listing()[0].path.endswith(left_out)


# the decoded cache on a full disk


def _records(root, count=4):
    return [Record(str(image_file(root / f"{i}.png", seed=i)), i % 2) for i in range(count)]


def test_full_disk_for_the_cache_is_a_one_line_error_naming_folder_and_size(tmp_path, monkeypatch):
    records = _records(tmp_path / "d")

    def no_space(descriptor, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(DataError) as error:
        open_cache(records, SIDE, root=tmp_path / "cache")
    message = _one_line(error)
    assert str(tmp_path / "cache") in message and f"{4 * SIDE * SIDE * 3:,} bytes needed" in message
    assert "$MEDATTN_CACHE" in message
    assert not list((tmp_path / "cache").glob("*/images.u8"))  # the reserved space is given back


def test_cache_folder_that_cannot_be_created_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(DataError, match="cannot write the decoded cache") as error:
        open_cache(_records(tmp_path / "d"), SIDE, root=tmp_path / "file")
    _one_line(error)


def test_without_posix_fallocate_the_space_is_reserved_by_writing_zeros(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "posix_fallocate")
    records = _records(tmp_path / "d")
    cache = open_cache(records, SIDE, root=tmp_path / "cache")
    assert cache.valid.all() and os.stat(cache.directory / "images.u8").st_blocks * 512 >= 4 * SIDE * SIDE * 3
    reference = open_cache(records, SIDE, root=tmp_path / "reference")
    assert np.array_equal(cache.images, reference.images)


def test_recreated_data_file_is_decoded_again_not_trusted_to_the_old_index(tmp_path):
    records = _records(tmp_path / "d")
    first = open_cache(records, SIDE, root=tmp_path / "cache")
    expected = np.array(first.images)
    (first.directory / "images.u8").write_bytes(b"")  # cut short (a crash, a full disk)
    again = open_cache(records, SIDE, root=tmp_path / "cache")
    assert again.valid.all() and np.array_equal(np.array(again.images), expected)
