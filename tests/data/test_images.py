"""Every pixel format decodes to float32 [H, W, C] in [0, 1]; bad files give one-line errors."""

import numpy as np
import pytest
from PIL import Image

from medattn.data.images import MAX_PIXELS, read_image, read_mask
from medattn.data.records import DataError

from .conftest import write_image


def test_grayscale_rgb_rgba_palette_and_16bit_share_one_representation(tmp_path, rng):
    gray = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    cases = {
        "g.png": (Image.fromarray(gray), gray[..., None] / 255),
        "rgb.png": (Image.fromarray(rgb), rgb / 255),
        "rgba.png": (Image.fromarray(np.dstack([rgb, np.full((5, 7), 9, np.uint8)])), rgb / 255),
        "p.png": (Image.fromarray(rgb).quantize(8), None),
        "g16.png": (Image.fromarray(gray.astype(np.uint16) * 257), gray[..., None] / 255),
    }
    for name, (image, expected) in cases.items():
        image.save(tmp_path / name)
        array = read_image(str(tmp_path / name))
        assert array.dtype == np.float32 and array.ndim == 3 and array.shape[:2] == (5, 7)
        assert array.min() >= 0 and array.max() <= 1
        if expected is not None:
            np.testing.assert_allclose(array, expected, atol=1e-6)
    assert read_image(str(tmp_path / "p.png")).shape == (5, 7, 3)


def test_sixteen_bit_keeps_its_precision(tmp_path):
    values = np.array([[0, 1, 4095, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "x.png")
    np.testing.assert_allclose(read_image(str(tmp_path / "x.png"))[..., 0], values / 65535, rtol=1e-6)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.png", b"", "empty file (0 bytes)"),
        ("notes.png", b"this is text, not pixels", "not an image (unknown format)"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError) as err:
        read_image(str(tmp_path / name))
    assert str(err.value) == f"{tmp_path / name}: {message}"


def test_truncated_jpeg_is_reported(tmp_path, rng):
    path = write_image(tmp_path / "t.jpg", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataError, match="t.jpg: cannot decode image"):
        read_image(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.png: file not found"):
        read_image(str(tmp_path / "nope.png"))


def test_decompression_bombs_are_refused_before_decoding(tmp_path):
    side = int(MAX_PIXELS**0.5) + 10
    Image.new("1", (side, side)).save(tmp_path / "bomb.png")  # tiny file, huge image
    assert (tmp_path / "bomb.png").stat().st_size < 200_000
    with pytest.raises(DataError, match="exceeds the 50,000,000-pixel limit"):
        read_image(str(tmp_path / "bomb.png"))


def test_mask_must_match_its_image(tmp_path):
    write_image(tmp_path / "m.png", np.zeros((4, 6), np.uint8))
    assert read_mask(str(tmp_path / "m.png"), (4, 6)).shape == (4, 6)
    with pytest.raises(DataError, match="m.png: mask is 6x4 but its image is 5x4"):
        read_mask(str(tmp_path / "m.png"), (4, 5))


def test_medmnist_array_entries(tmp_path, rng):
    images = rng.integers(0, 256, (3, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "m.npz", train_images=images, train_labels=np.zeros((3, 1)))
    np.testing.assert_allclose(read_image(f"{tmp_path / 'm.npz'}::train/2")[..., 0], images[2] / 255)
    with pytest.raises(DataError, match="cannot read array entry"):
        read_image(f"{tmp_path / 'm.npz'}::train/7")
