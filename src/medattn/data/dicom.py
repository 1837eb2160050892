"""Decode a single-frame DICOM file into float32 [H, W, C] in [0, 1] (C = 1 grey, 3 colour).

Greyscale pipeline, following the DICOM grayscale standard display chain (PS3.3 C.11):
stored values -> modality rescale (``RescaleSlope``/``RescaleIntercept``) -> VOI window
(``WindowCenter``/``WindowWidth``, the first pair when several are given, with the standard's
linear function) or, without a window, min-max of the rescaled values -> inversion for
``MONOCHROME1`` so that bright always means dense.

Deviations from a full display pipeline, all rare in classification datasets: a Modality LUT
Sequence, a VOI LUT Sequence and the SIGMOID/LINEAR_EXACT VOI functions are not applied (the
linear window or min-max is used instead); palette-colour images are refused; multi-frame files
are refused rather than silently reduced to one frame. Colour images (3 samples per pixel) are
taken as RGB after pydicom's decoding, which converts YBR photometric interpretations to RGB.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medattn.data.images import MAX_PIXELS
from medattn.data.records import DataError

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def read_dicom(path: Path) -> np.ndarray:
    """Decode one DICOM image.

    Args:
        path: a DICOM file (Part 10, with the ``DICM`` preamble).

    Returns:
        float32 array [H, W, 1] for greyscale or [H, W, 3] for colour, values in [0, 1].

    Raises:
        DataError: pydicom missing, unreadable file, no pixel data, multi-frame, unsupported
            photometric interpretation, oversized or undecodable pixel data.
    """
    dataset = _open(Path(path))
    _check_pixel_data(path, dataset)
    pixels = _decode(path, dataset)
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if int(dataset.get("SamplesPerPixel", 1) or 1) == 3 or pixels.ndim == 3:
        return _colour(path, dataset, pixels)
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise DataError(f"{path}: DICOM photometric interpretation {photometric} is not supported")
    values = _rescale(dataset, pixels.astype(np.float64))
    window = _window(dataset)
    image = _apply_window(values, *window) if window else _min_max(values)
    if photometric == "MONOCHROME1":
        image = 1.0 - image
    return image.astype(np.float32)[..., None]


def _open(path: Path):
    try:
        import pydicom
    except ImportError:
        raise DataError(f"{path}: reading DICOM needs pydicom (pip install 'medattn[dicom]')") from None
    try:
        return pydicom.dcmread(path)
    except Exception as exc:  # InvalidDicomError, OSError, struct/parse errors of truncated files, ...
        reason = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        raise DataError(f"{path}: not a readable DICOM file ({reason})") from None


def _check_pixel_data(path: Path, dataset) -> None:
    if not any(keyword in dataset for keyword in PIXEL_KEYWORDS):
        raise DataError(f"{path}: DICOM has no pixel data")
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise DataError(f"{path}: multi-frame DICOM ({frames} frames) is not supported; export single frames")
    rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
    if rows * columns > MAX_PIXELS:
        raise DataError(f"{path}: image of {columns}x{rows} pixels exceeds the {MAX_PIXELS:,}-pixel limit")


def _decode(path: Path, dataset) -> np.ndarray:
    try:
        return np.asarray(dataset.pixel_array)
    except Exception as exc:  # pydicom raises many types (missing codec, truncated data, bad tags)
        reason = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        raise DataError(f"{path}: cannot decode DICOM pixel data ({reason})") from None


def _colour(path: Path, dataset, pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim != 3 or pixels.shape[-1] != 3:
        raise DataError(f"{path}: colour DICOM has pixel array of shape {pixels.shape}, expected (rows, columns, 3)")
    if np.issubdtype(pixels.dtype, np.floating):
        return _min_max(pixels.astype(np.float64)).astype(np.float32)
    bits = int(dataset.get("BitsStored", 8) or 8)
    return np.clip(pixels.astype(np.float32) / float(2**bits - 1), 0.0, 1.0)


def _rescale(dataset, values: np.ndarray) -> np.ndarray:
    slope = float(dataset.get("RescaleSlope", 1) or 1)
    intercept = float(dataset.get("RescaleIntercept", 0) or 0)
    return values * slope + intercept


def _first(value) -> float | None:
    """A DS value or the first of a multi-valued one, as a float (None when empty)."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        value = value[0] if len(value) else None
    if value is None or str(value).strip() == "":
        return None
    return float(value)


def _window(dataset) -> tuple[float, float] | None:
    """The first (center, width) pair, or None when absent or unusable (width < 1)."""
    try:
        center = _first(dataset.get("WindowCenter"))
        width = _first(dataset.get("WindowWidth"))
    except (TypeError, ValueError):
        return None
    if center is None or width is None or not width >= 1:
        return None
    return center, width


def _apply_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """The DICOM linear VOI function (PS3.3 C.11.2.1.2.1) mapped to [0, 1]."""
    if width == 1:
        return (values > center - 0.5).astype(np.float64)
    return np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def _min_max(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)
