"""Explanation figures: image grids with heat-map overlays, and mean maps (seed 004, Table 4).

Figures are drawn on a bare :class:`matplotlib.figure.Figure` with an Agg canvas, never through
pyplot, so the caller's backend and open figures are untouched. Every file is written atomically.
Titles come from data (file names, model names) and are drawn as plain text: mathtext parsing is
off, so ``$x_1$`` prints as typed instead of raising or being typeset.

Maps passed here are already normalised for display (:mod:`medattn.explain.display`); the
:class:`~medattn.explain.display.DisplayScale` that did it labels the shared colour bar and is
written into the file metadata.
"""

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure

from medattn.errors import ConfigError, choose
from medattn.explain.display import DisplayScale, to_rgb
from medattn.io import write_atomic

FORMATS = ("png", "pdf", "svg")
PANEL_INCHES = 1.9
FONT_SIZE = 9
# Plain text for titles from data: no mathtext ($...$), no LaTeX.
PLAIN = {"parse_math": False, "usetex": False}


def overlay(image, heat, cmap: str | Colormap = "inferno", alpha: float = 0.5, *, signed: bool = False) -> np.ndarray:
    """Blend a normalised heat map onto an image.

    Each pixel is ``(1 - a) * image + a * colour(heat)`` with ``a = alpha * |heat|``: where the
    map is zero the image shows unchanged (so a grey image stays grey there), and full-strength
    heat covers it with opacity ``alpha``. Weighting by ``|heat|`` keeps weak attributions from
    tinting the whole image, which matters for diverging maps whose zero colour is white.

    Args:
        image: [H, W, C] (C = 1 or 3) in [0, 1]; 1-channel or equal-channel images are shown grey.
        heat: [H, W], normalised to [0, 1] (``signed=False``) or [-1, 1] (``signed=True``).
        cmap: colour-map name or object.
        alpha: opacity of full-strength heat, in [0, 1].
        signed: whether ``heat`` is in [-1, 1]; its colour then maps -1..1 onto the colour map.

    Returns:
        [H, W, 3] float array in [0, 1].
    """
    if not 0 <= alpha <= 1:
        raise ConfigError(f"overlay alpha must be in [0, 1], got {alpha}")
    rgb = to_rgb(image)
    heat = np.asarray(heat, dtype=np.float64)
    if heat.shape != rgb.shape[:2]:
        raise ConfigError(
            f"heat map shape {list(heat.shape)} differs from image shape {list(rgb.shape[:2])}; upsample the map first"
        )
    low = -1.0 if signed else 0.0
    heat = np.clip(heat, low, 1.0)
    colour_map = colormaps[cmap] if isinstance(cmap, str) else cmap
    colours = colour_map((heat - low) / (1.0 - low))[..., :3]
    weight = alpha * np.abs(heat)[..., None]
    return np.clip((1 - weight) * rgb + weight * colours, 0, 1)


def plain_title(text, width: int = 24, max_lines: int = 2) -> str:
    """A title from data wrapped to ``max_lines`` lines of ``width`` characters (the rest elided)."""
    lines = textwrap.wrap(" ".join(str(text).split()), width, break_on_hyphens=False) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: width - 1] + "…"
    return "\n".join(lines)


def _check_formats(formats: Sequence[str]) -> list[str]:
    if isinstance(formats, str):
        formats = (formats,)
    if not formats:
        raise ConfigError(f"no figure format given; choose from: {', '.join(FORMATS)}")
    return [choose("figure format", fmt, FORMATS) for fmt in formats]


def save_figure(fig: Figure, out: Path, formats: Sequence[str], dpi: int, description: str) -> list[Path]:
    """Write ``fig`` as ``out.<fmt>`` for every format, each atomically; returns the paths."""
    formats = _check_formats(formats)
    FigureCanvasAgg(fig)
    paths = []
    for fmt in formats:
        path = Path(out).with_name(f"{Path(out).name}.{fmt}")
        key = {"png": "Description", "pdf": "Subject", "svg": "Description"}[fmt]
        metadata = {key: description}

        def write(tmp, fmt=fmt, metadata=metadata):
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)

        paths.append(write_atomic(path, write))
    return paths


def _add_colorbar(fig: Figure, axes, scale: DisplayScale) -> None:
    mappable = ScalarMappable(norm=Normalize(scale.vmin, scale.vmax), cmap=colormaps[scale.cmap])
    bar = fig.colorbar(mappable, ax=axes, location="bottom", shrink=0.8, aspect=40, pad=0.02)
    # About 0.6 em per character: wrap the label to the figure's width instead of clipping it.
    chars = max(30, int(fig.get_figwidth() * 72 / (0.6 * (FONT_SIZE - 1))) - 6)
    bar.set_label(plain_title(scale.label(), chars, 3), fontsize=FONT_SIZE - 1, **PLAIN)
    bar.ax.tick_params(labelsize=FONT_SIZE - 1)


def _check_grid_inputs(images: np.ndarray, maps: Mapping[str, np.ndarray], row_titles: Sequence[str]) -> dict:
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ConfigError(f"images must have shape [N, H, W, C] with C = 1 or 3, got {list(images.shape)}")
    if not maps:
        raise ConfigError("explanation grid needs at least one map column")
    if len(row_titles) != images.shape[0]:
        raise ConfigError(f"{len(row_titles)} row titles for {images.shape[0]} images")
    columns = {}
    for title, value in maps.items():
        array = np.asarray(value, dtype=np.float32)
        array = array[:, 0] if array.ndim == 4 and array.shape[1] == 1 else array
        if array.shape != images.shape[:3]:
            raise ConfigError(f"maps for column '{title}' have shape {list(array.shape)}, expected {images.shape[:3]}")
        columns[str(title)] = array
    return columns


def explanation_grid(
    images,
    maps: Mapping[str, np.ndarray],
    out: str | Path,
    *,
    row_titles: Sequence[str],
    scale: DisplayScale,
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int = 150,
    alpha: float = 0.5,
    title: str | None = None,
) -> list[Path]:
    """Grid of explanations: one row per image; columns: the original, then one per map column.

    Args:
        images: [N, H, W, C] in [0, 1] (see :func:`~medattn.explain.display.denormalise`).
        maps: ``{column title: [N, H, W]}``, e.g. ``{"ResNet-18+CBAM / Grad-CAM": ...}``, normalised
            together with :func:`~medattn.explain.display.normalise_columns`.
        out: output path without suffix; ``out.png``, ``out.pdf`` are written.
        row_titles: one per image (file names, ids); shown left of each row.
        scale: the normalisation used; labels the shared colour bar and the file metadata.
        formats: any of ``png``, ``pdf``, ``svg``.
        dpi: raster resolution.
        alpha: overlay opacity of full-strength heat (see :func:`overlay`).
        title: optional figure title.

    Returns:
        The written paths, one per format.
    """
    images = np.asarray(images, dtype=np.float32)
    columns = _check_grid_inputs(images, maps, row_titles)
    n_rows, n_cols = images.shape[0], len(columns) + 1
    fig = Figure(figsize=(PANEL_INCHES * n_cols, PANEL_INCHES * n_rows + 0.9), layout="constrained")
    axes = np.asarray(fig.subplots(n_rows, n_cols, squeeze=False))
    for row in range(n_rows):
        axes[row, 0].imshow(to_rgb(images[row]), interpolation="nearest")
        axes[row, 0].set_ylabel(plain_title(row_titles[row]), fontsize=FONT_SIZE, **PLAIN)
        for col, heat in enumerate(columns.values(), start=1):
            blended = overlay(images[row], heat[row], scale.cmap, alpha, signed=scale.signed)
            axes[row, col].imshow(blended, interpolation="nearest")
    for col, name in enumerate(["image", *columns], start=0):
        axes[0, col].set_title(plain_title(name, max_lines=3), fontsize=FONT_SIZE, **PLAIN)
    return _finish(fig, axes, scale, title, out, formats, dpi)


def _finish(fig: Figure, axes, scale: DisplayScale, title: str | None, out, formats, dpi: int) -> list[Path]:
    """No ticks, one colour bar, the optional title, then write every format."""
    for ax in np.asarray(axes).ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    _add_colorbar(fig, axes, scale)
    if title:
        fig.suptitle(plain_title(title, 80), fontsize=FONT_SIZE + 2, **PLAIN)
    return save_figure(fig, Path(out), formats, dpi, scale.caption())


def mean_map_figure(
    mean_maps: Mapping[str, np.ndarray],
    out: str | Path,
    scale: DisplayScale,
    *,
    n_images: int | Mapping[str, int],
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int = 150,
    title: str | None = None,
) -> list[Path]:
    """One panel per model with its mean map over N images (seed 004, Table 4 "Mean" column).

    A structural bias (attention piling up in a corner, Grad-CAM favouring the centre) shows in
    the mean but not in single examples. Normalise the mean maps together (shared schemes) so the
    panels are comparable.

    Args:
        mean_maps: ``{model name: [H, W]}`` normalised mean maps.
        out: output path without suffix.
        scale: the normalisation used for the mean maps.
        n_images: N averaged over; one number, or one per model.
        formats, dpi, title: as in :func:`explanation_grid`.

    Deviation from seed 004: it min-max scales every mean map to 0-255 on its own (our
    ``per-map``); medattn leaves the scheme to the caller and prints it on the colour bar.
    """
    if not mean_maps:
        raise ConfigError("mean-map figure needs at least one model")
    counts = n_images if isinstance(n_images, Mapping) else dict.fromkeys(mean_maps, n_images)
    missing = [name for name in mean_maps if name not in counts]
    if missing:
        raise ConfigError(f"n_images has no count for model(s): {', '.join(map(str, missing))}")
    panels = [(name, np.asarray(value, dtype=np.float32)) for name, value in mean_maps.items()]
    if any(panel.ndim != 2 for _, panel in panels):
        raise ConfigError("mean maps must each have shape [H, W]")
    fig = Figure(figsize=(PANEL_INCHES * len(panels), PANEL_INCHES + 1.1), layout="constrained")
    axes = np.asarray(fig.subplots(1, len(panels), squeeze=False))[0]
    for ax, (name, panel) in zip(axes, panels, strict=True):
        ax.imshow(panel, cmap=scale.cmap, vmin=scale.vmin, vmax=scale.vmax, interpolation="nearest")
        ax.set_title(f"{plain_title(name)}\nmean of N = {counts[name]}", fontsize=FONT_SIZE, **PLAIN)
    return _finish(fig, axes, scale, title, out, formats, dpi)
