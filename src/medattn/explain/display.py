"""Display normalisation: how raw explanation maps become colours, as a separate, named step.

Raw maps (Grad-CAM, DeepLIFT, LRP, attention) keep their units; figures and reader sheets show
*normalised* maps. Which normalisation was used decides what a reader may compare, so it is a
named scheme recorded in a :class:`DisplayScale` that figures write into their colour-bar label,
caption and file metadata:

- ``shared-abs``: signed maps. Every map of the figure is divided by one number, the
  ``percentile``-th percentile of ``|map|`` over *all* maps, and clipped to [-1, 1]; shown with a
  diverging colour map centred on zero. Colours are comparable across rows and columns.
- ``shared-positive``: unsigned maps, or the positive part of signed ones (negative values are
  set to 0 first). Divided by the percentile of those values over all maps, clipped to [0, 1];
  sequential colour map. Comparable across rows and columns.
- ``per-map``: each map divided by its own percentile (of ``|map|``). Shows each map's own
  structure, but the colours are **not comparable** across rows or columns. Signed (diverging,
  [-1, 1]) when any map has a negative value, else [0, 1] sequential.

A percentile below 100 keeps a few extreme pixels from washing out the rest of the map (seed 004
min-max normalises to 0-255 instead, which one hot pixel dominates).

Deviation from the seed papers: none of them states a display normalisation for the maps it
compares side by side; medattn makes the choice explicit and defaults to a shared scale.
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from medattn.errors import ConfigError, choose

SCHEMES = ("shared-abs", "shared-positive", "per-map")
DIVERGING_CMAP = "RdBu_r"
SEQUENTIAL_CMAP = "inferno"
# Half an 8-bit grey level: channels closer than this are treated as one grey value.
GRAY_TOLERANCE = 0.5 / 255


@dataclass(frozen=True)
class DisplayScale:
    """How maps were normalised for display; figures print it so the scaling is documented.

    Attributes:
        scheme: one of :data:`SCHEMES`.
        percentile: the percentile that maps to full colour (1.0).
        scale: the divisor: one value for shared schemes, one per map for ``per-map``.
        signed: True when values lie in [-1, 1] (diverging colour map), False for [0, 1].
        cmap: matplotlib colour-map name.
    """

    scheme: str
    percentile: float
    scale: float | tuple[float, ...]
    signed: bool
    cmap: str

    @property
    def vmin(self) -> float:
        return -1.0 if self.signed else 0.0

    @property
    def vmax(self) -> float:
        return 1.0

    def label(self) -> str:
        """Short colour-bar label, e.g. ``shared-abs: map / P99.5(|map|) = 0.0123, clipped to [-1, 1]``."""
        p = f"{self.percentile:g}"
        rng = "[-1, 1]" if self.signed else "[0, 1]"
        if self.scheme == "shared-abs":
            return f"shared-abs: map / P{p}(|map|, all maps) = {self.scale:.3g}, clipped to {rng}"
        if self.scheme == "shared-positive":
            return f"shared-positive: max(map, 0) / P{p}(all maps) = {self.scale:.3g}, clipped to {rng}"
        return f"per-map: each map / its own P{p}(|map|), clipped to {rng}; not comparable across maps"

    def caption(self) -> str:
        """One sentence for a figure caption or report."""
        how = "diverging colour map centred on 0" if self.signed else "sequential colour map"
        return f"Display normalisation {self.label()}; {how} '{self.cmap}'."

    def to_dict(self) -> dict:
        """JSON-ready dict (``scale`` as a float or list)."""
        data = asdict(self)
        data["scale"] = list(self.scale) if isinstance(self.scale, tuple) else self.scale
        return data


def _as_maps(maps) -> np.ndarray:
    array = np.asarray(maps, dtype=np.float64)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[0] == 0:
        raise ConfigError(f"maps must have shape [N, 1, H, W] or [N, H, W] with N >= 1, got {list(array.shape)}")
    if not np.all(np.isfinite(array)):
        raise ConfigError("maps contain NaN or infinite values; fix the explanation method before display")
    return array


def _divisor(values: np.ndarray, percentile: float) -> float:
    # An all-zero map has no scale; dividing by 1 keeps it zero instead of producing NaN.
    value = float(np.percentile(values, percentile)) if values.size else 0.0
    return value if value > 0 else 1.0


def normalise_for_display(maps, scheme: str, percentile: float = 99.5) -> tuple[np.ndarray, DisplayScale]:
    """Normalise explanation maps for display with one named scheme (see module docstring).

    Args:
        maps: raw maps, [N, 1, H, W] or [N, H, W]; all maps that will share one figure.
        scheme: ``shared-abs``, ``shared-positive`` or ``per-map``.
        percentile: percentile in (0, 100] that maps to full colour.

    Returns:
        ``(normalised [N, H, W] float32, DisplayScale)``.

    Raises:
        ConfigError: unknown scheme, percentile out of range, bad shape or non-finite values.
    """
    choose("display scheme", scheme, SCHEMES)
    if not 0 < percentile <= 100:
        raise ConfigError(f"display percentile must be in (0, 100], got {percentile}")
    array = _as_maps(maps)
    if scheme == "shared-abs":
        divisor = _divisor(np.abs(array), percentile)
        out = np.clip(array / divisor, -1, 1)
        scale = DisplayScale(scheme, float(percentile), divisor, True, DIVERGING_CMAP)
    elif scheme == "shared-positive":
        positive = np.maximum(array, 0)
        divisor = _divisor(positive, percentile)
        out = np.clip(positive / divisor, 0, 1)
        scale = DisplayScale(scheme, float(percentile), divisor, False, SEQUENTIAL_CMAP)
    else:
        signed = bool(np.any(array < 0))
        divisors = tuple(_divisor(np.abs(one), percentile) for one in array)
        out = np.clip(array / np.asarray(divisors)[:, None, None], -1 if signed else 0, 1)
        cmap = DIVERGING_CMAP if signed else SEQUENTIAL_CMAP
        scale = DisplayScale(scheme, float(percentile), divisors, signed, cmap)
    return out.astype(np.float32), scale


def normalise_columns(
    maps: Mapping[str, np.ndarray], scheme: str, percentile: float = 99.5
) -> tuple[dict[str, np.ndarray], DisplayScale]:
    """Normalise the columns of one figure jointly: ``{title: [N, H, W]}`` in, same keys out.

    Shared schemes use one divisor over every map of every column, which is what makes the
    columns comparable; ``per-map`` lists its divisors column by column.
    """
    if not maps:
        raise ConfigError("no maps to normalise: the figure needs at least one column")
    arrays = {str(title): _as_maps(value) for title, value in maps.items()}
    shapes = {array.shape for array in arrays.values()}
    if len(shapes) != 1:
        raise ConfigError(f"every column needs maps of the same shape [N, H, W], got {sorted(shapes)}")
    stacked = np.concatenate(list(arrays.values()))
    normalised, scale = normalise_for_display(stacked, scheme, percentile)
    n = next(iter(arrays.values())).shape[0]
    return {title: normalised[i * n : (i + 1) * n] for i, title in enumerate(arrays)}, scale


def denormalise(images, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Undo the input normalisation ``(x - mean) / std``: [N, C, H, W] -> [N, H, W, C] in [0, 1].

    Args:
        images: model inputs (numpy or a CPU torch tensor), [N, C, H, W].
        mean: per-channel mean (length C, or 1 to broadcast).
        std: per-channel standard deviation, same length rules.
    """
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    array = np.asarray(images, dtype=np.float64)
    if array.ndim != 4:
        raise ConfigError(f"images must have shape [N, C, H, W], got {list(array.shape)}")
    channels = array.shape[1]
    mean_a, std_a = np.asarray(mean, dtype=np.float64).ravel(), np.asarray(std, dtype=np.float64).ravel()
    for name, values in (("mean", mean_a), ("std", std_a)):
        if values.size not in (1, channels):
            raise ConfigError(f"{name} has {values.size} values, the images have {channels} channels")
    if np.any(std_a <= 0):
        raise ConfigError(f"std must be positive, got {std_a.tolist()}")
    restored = array * std_a[None, :, None, None] + mean_a[None, :, None, None]
    return np.clip(restored, 0, 1).transpose(0, 2, 3, 1).astype(np.float32)


def is_grayscale(image: np.ndarray) -> bool:
    """True for a 1-channel image, or a 3-channel one whose channels agree to half a grey level."""
    image = np.asarray(image)
    if image.ndim == 2 or image.shape[-1] == 1:
        return True
    return image.shape[-1] == 3 and float(np.ptp(image, axis=-1).max(initial=0)) <= GRAY_TOLERANCE


def to_rgb(image) -> np.ndarray:
    """An image [H, W], [H, W, 1] or [H, W, 3] in [0, 1] as [H, W, 3]; grey images come out exactly grey."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] not in (1, 3) or image.ndim not in (2, 3):
        raise ConfigError(f"image must have shape [H, W], [H, W, 1] or [H, W, 3], got {list(image.shape)}")
    if image.ndim == 3 and image.shape[-1] == 3 and not is_grayscale(image):
        return np.clip(image, 0, 1)
    gray = image if image.ndim == 2 else image.mean(axis=-1)
    return np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=-1)
