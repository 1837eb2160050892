import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from medattn.data.images import read_image, read_mask
from medattn.data.records import DataError
from medattn.data.sources import csv_source
from medattn.data.synthetic import (
    CLASSES,
    LESION_KINDS,
    MANIFEST,
    difficulty_settings,
    make_lesion_dataset,
    write_synthetic_dataset,
)
from medattn.data.synthetic import writer as writer_module
from medattn.data.synthetic.markers import PALETTE, marker_width
from medattn.data.synthetic.png import encode_pngs


def local_contrast(batch) -> torch.Tensor:
    """Per lesion image: mean grey inside the mask minus the mean of a 3-pixel ring around it."""
    positive = batch.labels == 1
    grey, mask = batch.images[positive, :1], batch.masks[positive]
    ring = F.max_pool2d(mask, 7, stride=1, padding=3) - mask
    inside = (grey * mask).flatten(1).sum(1) / mask.flatten(1).sum(1)
    around = (grey * ring).flatten(1).sum(1) / ring.flatten(1).sum(1)
    return inside - around


def test_same_seed_gives_bit_identical_batches_and_another_seed_does_not():
    first = make_lesion_dataset(48, 32, seed=7, shortcut=0.8)
    again = make_lesion_dataset(48, 32, seed=7, shortcut=0.8)
    other = make_lesion_dataset(48, 32, seed=8, shortcut=0.8)
    for name, value in vars(first).items():
        assert torch.equal(value, getattr(again, name)), name
    assert not torch.equal(first.images, other.images)
    assert first.images.shape == (48, 3, 32, 32) and first.images.dtype == torch.float32
    assert first.masks.shape == (48, 1, 32, 32) and first.labels.dtype == torch.int64
    assert first.images.min() >= 0 and first.images.max() <= 1
    assert torch.equal((first.images * 255).round() / 255, first.images)  # exactly what a PNG holds
    assert set(first.masks.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("size", [16, 32])
def test_masks_are_empty_for_normal_images_and_never_empty_for_lesions(size):
    batch = make_lesion_dataset(300, size, seed=1, difficulty=1.0)
    area = batch.masks.flatten(1).sum(1)
    assert 0 < batch.labels.sum() < 300
    assert (area[batch.labels == 0] == 0).all()
    assert (area[batch.labels == 1] > 0).all()
    assert ((batch.kind >= 0) == (batch.labels == 1)).all()


def test_lesion_pixels_are_brighter_than_the_tissue_around_them():
    contrast = local_contrast(make_lesion_dataset(200, 64, seed=2, difficulty=0.0))
    assert (contrast > 0).float().mean() > 0.95
    assert contrast.mean() > 0.15


def test_difficulty_mapping_is_the_documented_one():
    easy, hard = difficulty_settings(0), difficulty_settings(1)
    assert (easy.contrast, easy.size, easy.noise, easy.texture) == pytest.approx((0.35, 1.0, 0.02, 0.10))
    assert (hard.contrast, hard.size, hard.noise, hard.texture) == pytest.approx((0.10, 0.6, 0.08, 0.18))
    with pytest.raises(ValueError, match="difficulty"):
        difficulty_settings(1.5)


def test_harder_difficulty_gives_lower_contrast_and_smaller_lesions():
    batches = [make_lesion_dataset(200, 64, seed=3, difficulty=d) for d in (0.0, 0.25, 0.5, 0.75, 1.0)]
    contrast = [float(local_contrast(b).mean()) for b in batches]
    area = [float(b.masks.sum()) for b in batches]
    assert contrast == sorted(contrast, reverse=True) and len(set(contrast)) == 5
    assert area == sorted(area, reverse=True) and len(set(area)) == 5


def test_marker_agrees_with_the_label_with_probability_p_in_train_and_val_and_is_random_in_test():
    for split in ("train", "val"):
        batch = make_lesion_dataset(2000, 32, seed=4, shortcut=0.8, split=split)
        agree = (batch.marker == batch.labels.bool()).float().mean()
        assert abs(float(agree) - 0.8) < 0.04, split
    test = make_lesion_dataset(2000, 32, seed=4, shortcut=0.8, split="test")
    for label in (0, 1):
        rate = test.marker[test.labels == label].float().mean()
        assert abs(float(rate) - 0.5) < 0.06
    assert not make_lesion_dataset(200, 32, seed=4, shortcut=None).marker.any()


def test_marker_is_a_palette_square_in_a_corner_and_its_box_is_recorded():
    batch = make_lesion_dataset(64, 32, seed=5, shortcut=1.0)
    side, tinted = marker_width(32), torch.tensor([1.0, 0.93, 0.86])
    assert batch.marker.any() and (batch.marker_box[~batch.marker] == -1).all()
    for image, box in zip(batch.images[batch.marker], batch.marker_box[batch.marker], strict=True):
        x0, y0, x1, y1 = box.tolist()
        assert x1 - x0 == side == y1 - y0 and (x0 < 8 or x1 > 24) and (y0 < 8 or y1 > 24)
        patch = image[:, y0:y1, x0:x1].flatten(1)
        colour = patch[:, 0]
        assert (patch == colour[:, None]).all()
        assert torch.isclose((PALETTE * 255).round() / 255, colour).all(1).any()
        assert not torch.isclose(colour / colour.max(), tinted / tinted.max(), atol=0.05).all()


def test_every_lesion_kind_appears_and_cysts_appear_in_both_classes():
    batch = make_lesion_dataset(300, 32, seed=6)
    assert set(batch.kind[batch.labels == 1].tolist()) == set(range(len(LESION_KINDS)))
    assert batch.cyst[batch.labels == 0].any() and batch.cyst[batch.labels == 1].any()


def test_make_lesion_dataset_rejects_bad_arguments_listing_the_choices():
    with pytest.raises(ValueError, match="choose one of: train, val, test"):
        make_lesion_dataset(4, 32, split="ood")
    with pytest.raises(ValueError, match="shortcut"):
        make_lesion_dataset(4, 32, shortcut=1.2)
    with pytest.raises(ValueError, match="size"):
        make_lesion_dataset(4, 8)


def test_written_dataset_round_trips_through_csv_source(tmp_path):
    out, calls = tmp_path / "synthetic", []
    manifest = write_synthetic_dataset(out, 150, 32, seed=9, shortcut=0.9, progress=lambda *a: calls.append(a))
    assert manifest == out / MANIFEST and calls[-1] == (150, 150)
    source = csv_source(manifest, classes=list(CLASSES))
    assert source.classes == ("normal", "lesion") and not source.skipped and len(source.records) == 150
    assert set(csv_source(manifest).classes) == set(CLASSES)
    assert {r.split for r in source.records} == {"train", "val", "test"}
    split_of = {}
    for record in source.records:
        assert split_of.setdefault(record.group, record.split) == record.split
    assert 50 <= len(split_of) <= 150
    memory = make_lesion_dataset(150, 32, seed=9, shortcut=0.9)
    for i, record in enumerate(source.records):
        image = torch.from_numpy(read_image(record.path)).permute(2, 0, 1)
        mask = torch.from_numpy(read_mask(record.mask, (32, 32))).float()
        assert torch.equal(mask, memory.masks[i, 0]) and record.label == int(memory.labels[i])
        if record.split != "test":
            assert torch.equal(image, memory.images[i])


def test_manifest_marker_columns_follow_the_split(tmp_path):
    manifest = write_synthetic_dataset(tmp_path, 400, 16, seed=10, shortcut=1.0, test_fraction=0.3)
    rows = [line.split(",") for line in manifest.read_text().splitlines()]
    assert rows[0] == ["path", "label", "split", "group", "mask", "marker", "marker_box", "kind", "cyst"]
    agree = {"train": [], "val": [], "test": []}
    for _, label, split, _, _, marker, box, kind, _ in rows[1:]:
        agree[split].append((marker == "1") == (label == "lesion"))
        assert (box != "") == (marker == "1") and (kind == "none") == (label == "normal")
    assert all(agree["train"]) and all(agree["val"]) and not all(agree["test"])


def test_writer_is_deterministic_and_replaces_its_own_earlier_dataset(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    write_synthetic_dataset(first, 40, 32, seed=11, shortcut=0.5)
    write_synthetic_dataset(second, 60, 32, seed=3)
    write_synthetic_dataset(second, 40, 32, seed=11, shortcut=0.5)  # over a larger, different one
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_writer_refuses_a_non_empty_folder_it_did_not_write(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DataError) as error:
        write_synthetic_dataset(tmp_path, 10, 32)
    assert str(tmp_path) in str(error.value) and "\n" not in str(error.value)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    with pytest.raises(DataError, match="not a folder"):
        write_synthetic_dataset(tmp_path / "notes.txt", 10, 32)


def test_a_crash_while_writing_never_leaves_a_manifest(tmp_path, monkeypatch):
    write_synthetic_dataset(tmp_path, 20, 16, seed=1)

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(writer_module, "_write_chunk", crash)
    with pytest.raises(OSError, match="disk full"):
        write_synthetic_dataset(tmp_path, 20, 16, seed=2)
    assert not (tmp_path / MANIFEST).exists()
    monkeypatch.undo()
    write_synthetic_dataset(tmp_path, 20, 16, seed=2)  # the folder is still recognised as ours
    assert len(csv_source(tmp_path / MANIFEST).records) == 20


@pytest.mark.parametrize("shape", [(2, 5, 7), (2, 5, 7, 3)])
def test_png_encoder_round_trips_exactly_through_pillow(shape):
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    for level in (0, 1):
        for data, expected in zip(encode_pngs(pixels, level), pixels, strict=True):
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), expected)


def test_synthetic_recipe_keeps_lesion_as_the_positive_class(tmp_path):
    from medattn.data.sources import open_source
    from medattn.data.synthetic import write_synthetic_dataset

    write_synthetic_dataset(tmp_path / "s", 24, 16, seed=1)
    source = open_source(tmp_path / "s", "synthetic")
    assert source.classes == ("normal", "lesion")
    assert all((r.label == 1) == (r.mask is not None and "empty" not in r.mask) for r in source.records)
