import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medattn.data import hashing
from medattn.data.audit import audit_source, has_contamination, remove_cross_split_duplicates
from medattn.data.hashing import connected_groups, near_pairs, perceptual_hash, popcount
from medattn.data.sources import csv_source, folder_source, medmnist_source
from medattn.errors import ConfigError

BRAIN_MRI = Path("/work/shared/data/brain-tumor-mri")
# the planted JPEG copy is 2 bits from its original and distinct fixture images are >= 8 apart;
# 4 keeps a margin on both sides (the default, 2, is tuned on 256 px MRI)
PLANTED_DISTANCE = 4


def smooth_image(seed: int, side: int = 32) -> np.ndarray:
    """A smooth grayscale uint8 picture (random 4x4 field, bicubic-upsampled) in 20-200."""
    field = np.random.default_rng(seed).random((4, 4)).astype(np.float32)
    big = np.asarray(Image.fromarray(field).resize((side, side), Image.Resampling.BICUBIC))
    return (20 + 180 * (big - big.min()) / (big.max() - big.min())).astype(np.uint8)


def write(path: Path, pixels: np.ndarray, **options) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **options)
    return str(path)


def copy(source: str, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, path)
    return str(path)


@pytest.fixture
def planted(tmp_path):
    """A CSV dataset with one of each problem; returns (source, dict of the planted paths)."""
    root = tmp_path / "planted"
    p = {f"clean{i}": write(root / f"clean{i}.png", smooth_image(100 + i)) for i in range(6)}
    p["dup"] = write(root / "train_dup.png", smooth_image(1))
    p["dup_copy"] = copy(p["dup"], root / "train_dup_copy.png")
    p["cross"] = write(root / "train_cross.png", smooth_image(2))
    p["cross_test"] = copy(p["cross"], root / "test_cross.png")
    p["near"] = write(root / "train_near.png", smooth_image(3))
    p["near_test"] = write(root / "test_near.jpg", smooth_image(3) + 12, quality=90)  # brightened, re-encoded
    p["conflict_a"] = write(root / "conflict_a.png", smooth_image(4))
    p["conflict_b"] = copy(p["conflict_a"], root / "conflict_b.png")
    p["patient_train"] = write(root / "patient_train.png", smooth_image(5))
    p["patient_test"] = write(root / "patient_test.png", smooth_image(6))
    (root / "empty.png").write_bytes(b"")
    (root / "empty2.png").write_bytes(b"")
    jpeg = Path(write(root / "whole.jpg", smooth_image(7), quality=90)).read_bytes()
    (root / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "text.png").write_text("not an image\n")
    p.update({name: str(root / name) for name in ("empty.png", "empty2.png", "truncated.jpg", "text.png")})
    rows = [("clean0", "a", "train"), ("clean1", "b", "train"), ("clean2", "a", "test"), ("clean3", "b", "test")]
    rows += [("clean4", "a", "val"), ("clean5", "b", "val"), ("dup", "a", "train"), ("dup_copy", "a", "train")]
    rows += [("cross", "b", "train"), ("cross_test", "b", "test"), ("near", "a", "train"), ("near_test", "a", "test")]
    rows += [("conflict_a", "a", "train"), ("conflict_b", "b", "train")]
    rows += [("empty.png", "a", "train"), ("empty2.png", "b", "train"), ("truncated.jpg", "b", "train")]
    rows += [("text.png", "a", "test")]
    lines = ["path,label,split,group"] + [f"{Path(p[k]).name},{label},{split}," for k, label, split in rows]
    lines += ["patient_train.png,a,train,p7", "patient_test.png,b,test,p7", "missing.png,a,train,"]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return csv_source(root / "manifest.csv"), p


def paths_of(group: dict) -> set[str]:
    return {m["path"] for m in group["members"]}


def test_planted_problems_are_each_found_exactly(planted):
    source, p = planted
    report = audit_source(source, near_duplicate_distance=PLANTED_DISTANCE, workers=2)
    assert report["num_images"] == 20 and report["num_files"] == 20
    assert report["counts"]["train"] == {"a": 7, "b": 5} and report["counts"]["test"] == {"a": 3, "b": 3}
    unreadable = {u["path"]: u["problem"] for u in report["unreadable"]}
    assert set(unreadable) == {p["empty.png"], p["empty2.png"], p["truncated.jpg"], p["text.png"]}
    assert unreadable[p["empty.png"]] == "empty file (0 bytes)"
    assert unreadable[p["text.png"]] == "not an image (unknown format)"
    assert unreadable[p["truncated.jpg"]].startswith("cannot decode image")
    exact = [paths_of(g) for g in report["exact_duplicate_groups"]]
    expected = [{p["dup"], p["dup_copy"]}, {p["cross"], p["cross_test"]}, {p["conflict_a"], p["conflict_b"]}]
    assert exact == expected  # the two empty files are unreadable, not duplicates
    (near,) = report["near_duplicate_groups"]
    assert paths_of(near) == {p["near"], p["near_test"]} and near["max_distance"] <= PLANTED_DISTANCE
    crossing = {(g["kind"], frozenset(paths_of(g))) for g in report["cross_split_duplicates"]}
    assert crossing == {("exact", frozenset(expected[1])), ("near", frozenset(paths_of(near)))}
    assert all(g["splits"] == ["train", "test"] for g in report["cross_split_duplicates"])
    (conflict,) = report["label_conflicts"]
    assert conflict["kind"] == "exact" and paths_of(conflict) == expected[2] and conflict["classes"] == ["a", "b"]
    assert report["group_leaks"] == [{"group": "p7", "splits": ["train", "test"], "num_images": 2}]
    assert len(report["skipped"]) == 1 and "missing.png" in report["skipped"][0]
    assert has_contamination(report)


def test_findings_name_each_problem_in_one_line(planted):
    source, _ = planted
    found = audit_source(source, near_duplicate_distance=PLANTED_DISTANCE, workers=1)["findings"]
    assert all("\n" not in line for line in found)
    expected_starts = [
        "4 unreadable file(s)",
        "1 manifest entr(y/ies) skipped",
        "3 group(s) of identical files (3 redundant copies)",
        "1 group(s) of near-duplicate images (perceptual-hash distance <= 4; 2 images)",
        "1 group(s) of identical files span splits (1 train/test): test contamination",
        "1 group(s) of identical files carry different labels, e.g. conflict_a.png (train, a) ~ conflict_b.png",
        "1 group(s) of near-duplicate images span splits (1 train/test)",
        "1 group id(s) appear in more than one split (patient leak), e.g. 'p7' in train, test",
    ]
    assert len(found) == len(expected_starts)
    for start in expected_starts:
        assert sum(line.startswith(start) for line in found) == 1, start


def test_report_is_json_and_the_same_with_one_or_more_workers(planted):
    source, _ = planted
    report = audit_source(source, workers=1)
    assert json.loads(json.dumps(report)) == report
    assert audit_source(source, workers=3) == report


def test_remove_cross_split_duplicates_drops_the_evaluation_copy(planted):
    source, p = planted
    report = json.loads(json.dumps(audit_source(source)))  # also works on a report read back from JSON
    cleaned, lines = remove_cross_split_duplicates(source, report)
    assert lines == [f"{p['cross_test']}: removed from test, identical to {p['cross']} in train"]
    assert {r.path for r in source.records} - {r.path for r in cleaned.records} == {p["cross_test"]}
    assert len(cleaned.records) == len(source.records) - 1 and cleaned.classes == source.classes
    again = audit_source(cleaned, near_duplicate_distance=PLANTED_DISTANCE)
    assert [g["kind"] for g in again["cross_split_duplicates"]] == ["near"]  # near duplicates are left alone


def test_remove_cross_split_duplicates_can_keep_the_evaluation_copy(planted):
    source, p = planted
    cleaned, lines = remove_cross_split_duplicates(source, audit_source(source), keep="evaluation")
    assert lines == [f"{p['cross']}: removed from train, identical to {p['cross_test']} in test"]
    assert p["cross"] not in {r.path for r in cleaned.records}
    with pytest.raises(ConfigError, match="choose one of: train, evaluation"):
        remove_cross_split_duplicates(source, audit_source(source), keep="test")


def test_val_test_duplicate_loses_its_test_copy(tmp_path):
    first = write(tmp_path / "val" / "a" / "x.png", smooth_image(1))
    second = copy(first, tmp_path / "test" / "a" / "x.png")
    write(tmp_path / "train" / "a" / "y.png", smooth_image(2))
    source = folder_source(tmp_path)
    cleaned, lines = remove_cross_split_duplicates(source, audit_source(source))
    assert lines == [f"{second}: removed from test, identical to {first} in val"]
    assert [r.split for r in cleaned.records] == ["train", "val"]


def clean_folder(root: Path) -> None:
    for index, (split, label) in enumerate((s, c) for s in ("train", "test") for c in ("a", "b") for _ in range(4)):
        write(root / split / label / f"{index}.png", smooth_image(200 + index))


def test_clean_data_yields_no_findings(tmp_path):
    clean_folder(tmp_path)
    source = folder_source(tmp_path)
    report = audit_source(source)
    assert report["findings"] == [] and not has_contamination(report)
    for key in ("unreadable", "exact_duplicate_groups", "near_duplicate_groups", "label_conflicts", "skipped"):
        assert report[key] == [], key
    assert report["counts"] == {"train": {"a": 4, "b": 4}, "test": {"a": 4, "b": 4}}
    assert report["image_sizes"]["top"] == [{"width": 32, "height": 32, "count": 16}]
    assert report["modes"] == {
        "formats": {"PNG": 16},
        "pil_modes": {"L": 16},
        "channels": {"1": 16},
        "bit_depths": {"8": 16},
        "rgb_with_equal_channels": 0,
    }
    assert remove_cross_split_duplicates(source, report) == (source, [])


def test_sizes_modes_and_mixed_channels_are_summarised(tmp_path):
    write(tmp_path / "a" / "gray.png", smooth_image(1, side=16))
    write(tmp_path / "a" / "rgb_gray.jpg", np.repeat(smooth_image(2, side=24)[..., None], 3, axis=2), quality=95)
    rgb = np.stack([smooth_image(seed, side=32) for seed in (3, 4, 5)], axis=2)
    write(tmp_path / "b" / "rgb.png", rgb)
    write(tmp_path / "b" / "deep.png", (smooth_image(6, side=20).astype(np.uint16) * 257))
    report = audit_source(folder_source(tmp_path))
    sizes = report["image_sizes"]
    assert (sizes["distinct"], sizes["min_width"], sizes["max_width"]) == (4, 16, 32)
    assert report["modes"]["formats"] == {"PNG": 3, "JPEG": 1}
    assert report["modes"]["channels"] == {"1": 2, "3": 2}
    assert report["modes"]["bit_depths"] == {"8": 3, "16": 1}
    assert report["modes"]["rgb_with_equal_channels"] == 1
    assert report["counts"] == {"unsplit": {"a": 2, "b": 2}}
    assert report["findings"] == ["files mix channel counts: 2 with 1 channel(s), 2 with 3 channel(s)"]


def test_array_entries_are_hashed_by_content(tmp_path):
    images = {s: np.stack([smooth_image(seed, side=28) for seed in seeds]) for s, seeds in
              (("train", (1, 2)), ("val", (3, 4)), ("test", (1, 5)))}  # fmt: skip
    arrays = {f"{s}_images": x for s, x in images.items()}
    arrays |= {f"{s}_labels": np.array([[0], [1]]) for s in images}
    np.savez(tmp_path / "toy.npz", **arrays)
    report = audit_source(medmnist_source(tmp_path / "toy.npz"))
    (group,) = report["cross_split_duplicates"]
    assert group["kind"] == "exact" and [m["path"].rsplit("::", 1)[1] for m in group["members"]] == [
        "train/0",
        "test/0",
    ]
    assert report["modes"]["formats"] == {"NPZ": 6}


def test_progress_callback_and_rich_progress_see_every_file(tmp_path):
    clean_folder(tmp_path)
    source = folder_source(tmp_path)
    calls = []
    audit_source(source, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 16) for i in range(1, 17)]
    from rich.progress import Progress

    with Progress(disable=True) as bar:
        audit_source(source, progress=bar)
        (task,) = bar.tasks
        assert task.total == 16 and task.completed == 16


def test_invalid_distance_is_refused(planted):
    with pytest.raises(ConfigError, match="between 0 and 64"):
        audit_source(planted[0], near_duplicate_distance=65)


def test_perceptual_hash_ignores_brightness_and_separates_different_images():
    image = smooth_image(9).astype(np.float32)[..., None] / 255
    assert perceptual_hash(image) == perceptual_hash(image + 0.1)
    assert perceptual_hash(image) == perceptual_hash(np.repeat(image, 3, axis=2))
    other = smooth_image(10).astype(np.float32)[..., None] / 255
    assert bin(perceptual_hash(image) ^ perceptual_hash(other)).count("1") > 8
    assert bin(perceptual_hash(image)).count("1") == 32  # median threshold: half the bits are set


def test_near_pairs_match_brute_force_across_tiles(monkeypatch):
    monkeypatch.setattr(hashing, "_BLOCK", 7)  # several tiles, including ragged ones
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, size=40, dtype=np.uint64)
    hashes[25] = hashes[3] ^ np.uint64(0b101)  # distance 2
    hashes[39] = hashes[3]
    i, j, d = near_pairs(hashes, 12)
    expected = {
        (a, b, bin(int(hashes[a]) ^ int(hashes[b])).count("1"))
        for a in range(40)
        for b in range(a + 1, 40)
        if bin(int(hashes[a]) ^ int(hashes[b])).count("1") <= 12
    }
    assert set(zip(i.tolist(), j.tolist(), d.tolist(), strict=True)) == expected
    assert {(3, 25, 2), (3, 39, 0), (25, 39, 2)} <= expected
    values = rng.integers(0, 2**63, size=50, dtype=np.uint64)
    assert popcount(values).tolist() == [bin(int(v)).count("1") for v in values]


def test_connected_groups_follow_chains():
    groups = connected_groups(7, np.array([0, 5, 2]), np.array([2, 6, 4]))
    assert groups == [[0, 2, 4], [5, 6]]


@pytest.mark.skipif(not BRAIN_MRI.is_dir(), reason=f"brain-tumor MRI dataset not present at {BRAIN_MRI}")
def test_brain_mri_audit_finds_its_known_contamination():
    source = folder_source(BRAIN_MRI)
    report = audit_source(source)
    assert report["num_images"] == 3264 and report["unreadable"] == []
    assert report["counts"]["train"] == {
        "glioma_tumor": 826,
        "meningioma_tumor": 822,
        "no_tumor": 395,
        "pituitary_tumor": 827,
    }
    assert sum(report["counts"]["test"].values()) == 394
    assert report["modes"]["pil_modes"] == {"L": 3264}
    exact = report["exact_duplicate_groups"]
    assert (len(exact), sum(len(g["members"]) - 1 for g in exact)) == (300, 394)
    crossing = report["cross_split_duplicates"]
    assert sum(g["kind"] == "exact" for g in crossing) == 213 and sum(g["kind"] == "near" for g in crossing) == 28
    assert len(report["near_duplicate_groups"]) == 130
    assert [g["kind"] for g in report["label_conflicts"]] == ["near"] * 3
    assert has_contamination(report)
    cleaned, lines = remove_cross_split_duplicates(source, report)
    assert len(lines) == 251 and cleaned.class_counts()["test"]["no_tumor"] == 0
