"""Features measured from an image and its lesion mask, for feature-usage analysis without annotations.

Piater et al. (2024, sec. 3.3), after Reimers et al. (2021), ask which ABCD-rule features (Asymmetry,
Border irregularity, Colour, Dermoscopic structures) and which biases (e.g. colourful patches) a
classifier's output depends on given the label. Those papers use annotated features; here each one
is measured from the pixels. ``image`` is float [H, W] grey or [H, W, 3] RGB in [0, 1], ``mask`` is
bool [H, W] (the lesion); ``grey`` is the mean of the channels. Lesion pixels are ``L``, ``|L|``
their number.

- ``area = |L| / (H W)``.
- ``asymmetry`` (after Stoecker, Li and Moss, Comput. Med. Imaging Graph. 16(3), 1992): centroid ``c``
  and central second moments ``mu20, mu02, mu11`` of the pixel centres of ``L``; principal angle
  ``theta = atan2(2 mu11, mu20 - mu02) / 2``. For the two axes through ``c`` at ``theta`` and
  ``theta + 90 deg``, reflect the mask (nearest neighbour: pixel ``q`` of the reflection is in the
  lesion if the pixel nearest to the mirror image of ``q``'s centre is, ties rounded up) and take
  ``|L xor reflection| / |L|`` on an unbounded grid (a reflection leaving the image still counts);
  the feature is the mean of the two. 0 for shapes symmetric about both principal axes (disc, ellipse,
  rectangle); exact when the axes are the image axes and the centroid sits on the pixel grid or
  half-way, otherwise pixels along the border mismatch (about 0.03 for a 50 x 24 px ellipse at 30
  deg, 0.02 too much for a T of 1600 px at 30 deg). For isotropic moments (``mu20 = mu02``,
  ``mu11 = 0``: disc, square) the axes are the image axes.
- ``border_irregularity = P^2 / (4 pi |L|)``: 1 for a disc, 4/pi for a square, larger for ragged
  borders. ``P`` by the Crofton formula ``P = 1/2 int_0^pi int n(theta, p) dp dtheta`` (``n``: boundary
  crossings of the line at angle ``theta``, offset ``p``), with 8 directions of lattice lines through
  pixel centres, (1, 0), (2, 1), (1, 1), (1, 2) and their mirror images: ``P = 1/2 sum_k w_k s_k N_k``,
  ``N_k`` the in/out transitions between consecutive lattice points on lines of direction ``k``
  (outside the image counts as out), ``s_k = 1/|k|`` the spacing of those lines and ``w_k`` half the
  angle between the neighbouring directions (``atan(1/2)`` for the axes, ``pi/8`` for (2, 1),
  ``atan(1/3)`` for the diagonals). Bias: unbiased for a disc on average (within 1-2 % for radii from
  10 px), but the 8-point angular quadrature and the lattice lines that graze a straight edge
  underestimate polygons: a square of side 40 px gets ``P`` 2.5 % short and 1.21 instead of 4/pi;
  a line at ``(2, 1)`` samples only every sqrt(5) px, so features thinner than that count in the
  other directions only (an 8-pointed star of radius 18 +- 7 px gets ``P`` 4 % short). Lesions of
  a few dozen pixels can score below 1.
- ``colour_variegation = sqrt(sum_c var_c)``: the root of the summed per-channel (population)
  variances of the lesion pixels; for two equal halves of colours ``a`` and ``b``, ``|a - b| / 2``.
  A grey image has one channel (a grey image stored as RGB gets sqrt(3) times its grey value).
- ``intensity = mean(grey over L)``.
- ``contrast = intensity - mean(grey over R)``, ``R`` the ring of background pixels whose centres lie
  within ``d`` px (Euclidean) of a lesion pixel's, ``d = max(2, round(min(H, W) / 32))``.
- Image-level features (acquisition biases such as scanner, protocol or cropping; measured on every
  image, with or without a lesion): ``brightness = mean(grey)`` over the whole image,
  ``dark_fraction``: the share of pixels with ``grey < DARK_LEVEL`` (0.04, about 10 of 255: the
  black background around a scan), ``aspect_ratio = W / H`` of the stored file.
- ``marker``: ``marker_score >= MARKER_THRESHOLD``, where ``marker_score`` is the highest mean
  chroma ``max(rgb) - min(rgb)`` over ``w x w`` windows (``w`` the synthetic marker's side,
  ``max(2, round(min(H, W) / 10))``) within ``max(1, min(H, W) // 16) + 1 + w`` px of a corner: the
  region where ``medattn.data.synthetic.markers`` draws its square. See ``MARKER_THRESHOLD``.

Lesion features are NaN when the mask is empty (normal images) or missing.
"""

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from medattn.data.synthetic.markers import marker_width

LESION_FEATURES = ("area", "asymmetry", "border_irregularity", "colour_variegation", "intensity", "contrast")
IMAGE_FEATURES = ("brightness", "dark_fraction", "aspect_ratio", "marker")
FEATURES = LESION_FEATURES + IMAGE_FEATURES
DARK_LEVEL = 0.04
# The synthetic scans are grey * (1, 0.93, 0.86) (render.TINT), so their chroma is at most 0.14; the
# least saturated marker colour (PALETTE green, 0.15 0.70 0.25) has chroma 0.55. The threshold sits
# in the middle of that gap. On other data, use marker_score as a continuous feature.
MARKER_THRESHOLD = 0.35
# Lattice directions (dy, dx) of the Crofton perimeter and their angular weights (sum: pi).
_CROFTON = (
    ((0, 1), math.atan(1 / 2)),
    ((1, 0), math.atan(1 / 2)),
    ((1, 1), math.atan(1 / 3)),
    ((1, -1), math.atan(1 / 3)),
    ((1, 2), math.pi / 8),
    ((2, 1), math.pi / 8),
    ((1, -2), math.pi / 8),
    ((2, -1), math.pi / 8),
)


def lesion_area(mask: np.ndarray) -> float:
    """Fraction of the image's pixels in the lesion."""
    return float(np.count_nonzero(mask) / mask.size)


def asymmetry(mask: np.ndarray) -> float:
    """Mean mismatch of the lesion with its reflections about its two principal axes (module docstring)."""
    mask = np.asarray(mask, bool)
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return math.nan
    centre = np.array([ys.mean(), xs.mean()])
    dy, dx = ys - centre[0], xs - centre[1]
    theta = 0.5 * math.atan2(2 * np.mean(dx * dy), np.mean(dx * dx) - np.mean(dy * dy))
    radius = math.ceil(np.sqrt(np.max(dy * dy + dx * dx))) + 1
    mismatch = [_reflection_mismatch(mask, centre, radius, angle) for angle in (theta, theta + math.pi / 2)]
    return float(np.mean(mismatch) / len(ys))


def _reflection_mismatch(mask: np.ndarray, centre: np.ndarray, radius: int, angle: float) -> int:
    """``|mask xor reflection|`` about the line through ``centre`` (y, x) at ``angle`` to the x axis.

    Both the lesion and its reflection lie within ``radius`` px of the centre, so a square grid of
    that half-side (which may reach past the image) holds every pixel that can differ.
    """
    low = np.floor(centre).astype(int) - radius
    grid_y, grid_x = np.mgrid[low[0] : low[0] + 2 * radius + 2, low[1] : low[1] + 2 * radius + 2]
    direction = np.array([math.sin(angle), math.cos(angle)])
    offset = np.stack([grid_y - centre[0], grid_x - centre[1]])
    along = np.tensordot(direction, offset, axes=1)
    mirrored = centre.reshape(2, 1, 1) + 2 * along * direction.reshape(2, 1, 1) - offset
    source = np.floor(mirrored + 0.5).astype(int)
    return int(np.count_nonzero(_lookup(mask, grid_y, grid_x) != _lookup(mask, source[0], source[1])))


def _lookup(mask: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """``mask[ys, xs]``, False outside the image."""
    inside = (ys >= 0) & (ys < mask.shape[0]) & (xs >= 0) & (xs < mask.shape[1])
    return inside & mask[np.where(inside, ys, 0), np.where(inside, xs, 0)]


def perimeter(mask: np.ndarray) -> float:
    """Crofton estimate of the lesion's perimeter in pixels (8 directions; bias in the module docstring)."""
    padded = np.pad(np.asarray(mask, bool), 2)
    height, width = padded.shape
    total = 0.0
    for (dy, dx), weight in _CROFTON:
        here = padded[: height - dy, max(0, -dx) : width - max(0, dx)]
        there = padded[dy:, max(0, dx) : width - max(0, -dx)]
        total += weight * np.count_nonzero(here != there) / math.hypot(dy, dx)
    return 0.5 * total


def border_irregularity(mask: np.ndarray) -> float:
    """Compactness ``P^2 / (4 pi A)``: 1 for a disc, 4/pi for a square; NaN for an empty mask."""
    area = np.count_nonzero(mask)
    return perimeter(mask) ** 2 / (4 * math.pi * area) if area else math.nan


def colour_variegation(image: np.ndarray, mask: np.ndarray) -> float:
    """Root of the summed per-channel variances of the lesion pixels; NaN for an empty mask."""
    pixels = _channels(image)[np.asarray(mask, bool)]
    return float(np.sqrt(pixels.var(axis=0).sum())) if len(pixels) else math.nan


def intensity(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean brightness (mean of the channels) of the lesion pixels; NaN for an empty mask."""
    pixels = _channels(image)[np.asarray(mask, bool)]
    return float(pixels.mean()) if len(pixels) else math.nan


def contrast(image: np.ndarray, mask: np.ndarray, width: int | None = None) -> float:
    """Lesion brightness minus that of the ring of background pixels within ``width`` px of the lesion.

    ``width`` defaults to ``max(2, round(min(H, W) / 32))``. NaN if the mask or the ring is empty.
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return math.nan
    width = max(2, round(min(mask.shape) / 32)) if width is None else width
    ys, xs = np.nonzero(mask)
    box = (slice(max(0, ys.min() - width), ys.max() + width + 1), slice(max(0, xs.min() - width), xs.max() + width + 1))
    distance = ndimage.distance_transform_edt(~mask[box])  # 0 on the lesion, else to the nearest lesion pixel
    ring = (distance > 0) & (distance <= width)
    if not ring.any():
        return math.nan
    return float(intensity(image, mask) - _channels(image)[box][ring].mean())


def marker_score(image: np.ndarray) -> float:
    """Highest mean chroma ``max(rgb) - min(rgb)`` of a marker-sized window near a corner; 0 for grey images."""
    if image.ndim == 2 or image.shape[2] == 1:
        return 0.0
    size = min(image.shape[:2])
    side = marker_width(size)
    reach = min(size, max(1, size // 16) + 1 + side)
    side = min(side, reach)
    corners = (image[:reach, :reach], image[:reach, -reach:], image[-reach:, :reach], image[-reach:, -reach:])
    return float(max(_window_means(c.max(axis=2) - c.min(axis=2), side).max() for c in corners))


def _window_means(values: np.ndarray, side: int) -> np.ndarray:
    """Means of every ``side x side`` window of ``values`` [h, w], from its integral image."""
    total = np.pad(values.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = total[side:, side:] - total[:-side, side:] - total[side:, :-side] + total[:-side, :-side]
    return sums / side**2


def has_marker(image: np.ndarray) -> bool:
    """Whether a saturated marker square sits near a corner: ``marker_score >= MARKER_THRESHOLD``."""
    return marker_score(image) >= MARKER_THRESHOLD


def measure_image(image: np.ndarray, mask: np.ndarray | None) -> dict[str, float]:
    """Every feature of ``FEATURES`` for one image; lesion features NaN when ``mask`` is None or empty (image-level
    features are always measured)."""
    image = np.asarray(image, np.float64)
    features = dict.fromkeys(LESION_FEATURES, math.nan)
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask of shape {mask.shape} does not match the image's {image.shape[:2]}")
        if mask.any():
            features = {
                "area": lesion_area(mask),
                "asymmetry": asymmetry(mask),
                "border_irregularity": border_irregularity(mask),
                "colour_variegation": colour_variegation(image, mask),
                "intensity": intensity(image, mask),
                "contrast": contrast(image, mask),
            }
    grey = image.mean(axis=2) if image.ndim == 3 else image
    return features | {
        "brightness": float(grey.mean()),
        "dark_fraction": float(np.mean(grey < DARK_LEVEL)),
        "aspect_ratio": image.shape[1] / image.shape[0],
        "marker": float(has_marker(image)),
    }


def measure_dataset(
    paths: Sequence[str | Path],
    mask_paths: Sequence[str | Path | None] | None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """One row per image: ``path`` (as given) and ``FEATURES``.

    Args:
        paths: image files (grey or RGB as stored; 8-bit scaled by 1/255, 16-bit grey by 1/65535).
        mask_paths: one lesion mask file per image (nonzero = lesion), None (or an empty string) where
            an image has none; None for no masks at all. Without a mask the lesion features are NaN.
        progress: called as ``progress(done, total)`` after each image.

    Raises:
        ValueError: ``mask_paths`` and ``paths`` differ in length, or a mask's size differs from its image's.
    """
    mask_paths = [None] * len(paths) if mask_paths is None else list(mask_paths)
    if len(mask_paths) != len(paths):
        raise ValueError(f"got {len(paths)} images but {len(mask_paths)} mask paths")
    rows = []
    for done, (path, mask_path) in enumerate(zip(paths, mask_paths, strict=True), 1):
        mask = _read_mask(mask_path) if _given(mask_path) else None
        try:
            rows.append({"path": str(path), **measure_image(_read_image(path), mask)})
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        if progress is not None:
            progress(done, len(paths))
    return pd.DataFrame(rows, columns=["path", *FEATURES])


def _given(mask_path: str | Path | None) -> bool:
    """False for None, an empty string and a float NaN (a missing cell of a pandas column)."""
    return mask_path is not None and mask_path != "" and not (isinstance(mask_path, float) and math.isnan(mask_path))


def _read_image(path: str | Path) -> np.ndarray:
    """[H, W] or [H, W, 3] float in [0, 1]."""
    with Image.open(path) as image:
        if image.mode.startswith("I;16"):
            return np.asarray(image, np.float64) / 65535.0
        if image.mode not in ("L", "RGB"):
            image = image.convert("L" if image.mode in ("1", "LA") else "RGB")
        return np.asarray(image, np.float64) / 255.0


def _read_mask(path: str | Path) -> np.ndarray:
    """[H, W] bool: pixels nonzero in any band."""
    with Image.open(path) as image:
        pixels = np.asarray(image)
    return pixels.any(axis=2) if pixels.ndim == 3 else pixels != 0


def _channels(image: np.ndarray) -> np.ndarray:
    """[H, W, C] view of a grey [H, W] or colour [H, W, C] image."""
    return image[:, :, None] if image.ndim == 2 else image
