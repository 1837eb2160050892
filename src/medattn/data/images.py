"""Decode any supported image into one representation: float32 [H, W, C] in [0, 1], C = 1 or 3.

Grayscale (8/16/32-bit), RGB, RGBA (alpha dropped), palette and CMYK images, DICOM files and
MedMNIST array entries all come out the same way, so everything downstream handles one format.
Every failure is a one-line DataError naming the file and the problem.
"""

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from medattn.data.records import DataError, os_problem

MAX_PIXELS = 50_000_000  # a 7000 x 7000 image; larger files are refused as decompression bombs
ARRAY_SEPARATOR = "::"


def read_image(path: str) -> np.ndarray:
    """Decode ``path`` (an image file, a DICOM file, or ``FILE.npz::split/index``)."""
    if ARRAY_SEPARATOR in path:
        return _read_array_entry(path)
    file = Path(path)
    try:
        if not file.is_file():
            raise DataError(f"{path}: file not found")
        if file.stat().st_size == 0:
            raise DataError(f"{path}: empty file (0 bytes)")
        if _is_dicom(file):
            from medattn.data.dicom import read_dicom

            return read_dicom(file)
        return _read_pil(file)
    except OSError as exc:  # unreadable (permissions, I/O error, a name too long): a problem of this file
        raise DataError(f"{path}: cannot read ({os_problem(exc)})") from None


def read_mask(path: str, shape: tuple[int, int]) -> np.ndarray:
    """A binary mask [H, W] (uint8 0/1) that must have the image's ``shape``."""
    mask = read_image(path)[..., 0] > 0
    if mask.shape != tuple(shape):
        raise DataError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is {shape[1]}x{shape[0]}")
    return mask.astype(np.uint8)


def _is_dicom(file: Path) -> bool:
    if file.suffix.lower() in (".dcm", ".dicom"):
        return True
    with file.open("rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"


def _read_pil(file: Path) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise DataError(
                        f"{file}: image of {image.width}x{image.height} pixels exceeds the {MAX_PIXELS:,}-pixel limit"
                    )
                image.load()
                return pil_to_array(image)
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"{file}: not an image (unknown format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{file}: image too large (decompression-bomb limit)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{file}: cannot decode image ({str(exc).splitlines()[0] or type(exc).__name__})") from None


def pil_to_array(image: Image.Image) -> np.ndarray:
    """Convert a loaded PIL image to float32 [H, W, C] in [0, 1]."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return (np.asarray(image, dtype=np.uint16).astype(np.float32) / 65535.0)[..., None]
    if mode in ("I", "F"):
        return _rescale(np.asarray(image, dtype=np.float32))[..., None]
    if mode in ("1", "L", "LA"):
        return (np.asarray(image.convert("L"), dtype=np.float32) / 255.0)[..., None]
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _rescale(values: np.ndarray) -> np.ndarray:
    """Integer/float images of unknown range: min-max to [0, 1] (constant images become 0)."""
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


@lru_cache(maxsize=16)
def npz_array(path: str, key: str) -> np.ndarray:
    """One array of a .npz file, loaded once per process (NpzFile re-reads it on every access)."""
    with np.load(path) as archive:
        return archive[key]


def _read_array_entry(ref: str) -> np.ndarray:
    file, entry = ref.split(ARRAY_SEPARATOR, 1)
    split, index = entry.rsplit("/", 1)
    try:
        array = np.asarray(npz_array(file, f"{split}_images")[int(index)])
    except (OSError, KeyError, IndexError, ValueError) as exc:
        raise DataError(f"{ref}: cannot read array entry ({exc})") from None
    if array.ndim == 2:
        array = array[..., None]
    return array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else max(float(array.max()), 1.0))
