"""Noisy linear imputation of removed pixels, the perturbation of ROAD (Rong et al. 2022).

Each removed pixel takes the weighted mean of its 8 neighbours, with weight 1/6 for the 4 direct
and 1/12 for the 4 diagonal neighbours (neighbours outside the image are left out, the remaining
weights are not renormalised but enter the pixel's own coefficient). Neighbours that are removed too
are unknowns, so all removed pixels of an image are found together from one sparse linear system
``A x = b``; then Gaussian noise is added to the imputed values so that the imputation itself does
not leak which pixels were removed. The noise is one standard-normal field [C, H, W] drawn from the
generator, the same for every image of a call (each image takes its values at its own removed pixels),
so an image's imputation does not depend on the other images it is imputed with.

``ROAD_NOISE`` is in pixel units (pixel values in [0, 1]), as in the reference code; for normalised
images (``(pixel - mean) / std``) :func:`noise_in_input_units` converts it, channel by channel.

Reference: Rong, Leemann, Borisov, Kasneci & Kasneci (2022), "A consistent and efficient evaluation
strategy for attribution methods", ICML (reference code: github.com/tleemann/road_evaluation).
"""

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import splu

from medattn.errors import ConfigError
from medattn.explain.scores._checks import default_generator

ROAD_NOISE = 0.01  # standard deviation of the added noise in pixel units (pixels in [0, 1]), as in the reference code
MAX_UNKNOWNS = 2**18  # removed pixels per factorisation; bounds the LU's memory (about 1 GB at this size)
NEIGHBOUR_WEIGHTS = (
    ((1, 1), 1 / 12),
    ((0, 1), 1 / 6),
    ((-1, 1), 1 / 12),
    ((1, -1), 1 / 12),
    ((0, -1), 1 / 6),
    ((-1, -1), 1 / 12),
    ((1, 0), 1 / 6),
    ((-1, 0), 1 / 6),
)


def _linear_system(values: np.ndarray, removed: np.ndarray) -> tuple[sparse.csc_matrix, np.ndarray, tuple]:
    """The system ``A x = b`` of all removed pixels of all images at once (block-diagonal ``A``).

    Row ``i`` (removed pixel ``p``): ``W_p x_p - sum_{removed q} w_pq x_q = sum_{kept q} w_pq v_q`` over
    the neighbours ``q`` of ``p`` inside the image, with ``W_p`` the sum of those weights.
    """
    images, height, width = removed.shape
    index, ys, xs = np.nonzero(removed)
    variable = np.full(removed.shape, -1, dtype=np.int64)
    variable[index, ys, xs] = np.arange(len(index))
    rows, cols, entries = [], [], []
    diagonal = np.zeros(len(index))
    rhs = np.zeros((len(index), values.shape[1]))
    for (dy, dx), weight in NEIGHBOUR_WEIGHTS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        diagonal[inside] += weight
        own = np.nonzero(inside)[0]
        neighbour = (index[own], ny[own], nx[own])
        unknown = removed[neighbour]
        rows.append(own[unknown])
        cols.append(variable[neighbour][unknown])
        entries.append(np.full(int(unknown.sum()), -weight))
        known = own[~unknown]
        rhs[known] += weight * values[index[known], :, ny[known], nx[known]]
    rows.append(np.arange(len(index)))
    cols.append(np.arange(len(index)))
    entries.append(diagonal)
    shape = (len(index), len(index))
    matrix = sparse.coo_matrix((np.concatenate(entries), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
    return matrix.tocsc(), rhs, (index, ys, xs)


def noise_in_input_units(noise: float, pixel_std, channels: int) -> np.ndarray:
    """``[C]`` standard deviation, in the units of the images, of imputation noise ``noise`` in pixel units.

    Args:
        noise: standard deviation in pixel units (pixel values in [0, 1]).
        pixel_std: per-channel std the images were normalised with (``(pixel - mean) / std``), one value
            or one per channel; None when the images are pixels.
        channels: number of image channels.
    """
    if not np.isfinite(noise) or noise < 0:
        raise ConfigError(f"noise must be a non-negative number, got {noise!r}")
    try:
        std = np.broadcast_to(np.asarray(1.0 if pixel_std is None else pixel_std, dtype=np.float64), channels)
    except ValueError as error:
        raise ConfigError(f"pixel_std needs one value or one per channel ({channels}), got {pixel_std!r}") from error
    if not (std > 0).all():
        raise ConfigError(f"pixel_std must be positive, got {list(np.atleast_1d(pixel_std))}")
    return noise / std


def noisy_linear_imputation(
    images: torch.Tensor,
    removed: torch.Tensor,
    *,
    noise: "float | np.ndarray" = ROAD_NOISE,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``images`` with the ``removed`` pixels replaced by noisy linear imputation (see module doc).

    Args:
        images: ``[M, C, H, W]``; every channel is imputed with the same system.
        removed: ``[M, H, W]`` bool, True where a pixel is removed. Every image must keep at least one
            pixel (with none kept, the system has no data to interpolate from).
        noise: standard deviation of the Gaussian noise added to each imputed value, in the units of
            ``images``, one value or one per channel (see :func:`noise_in_input_units`); 0 gives the plain
            linear imputation.
        generator: CPU generator for the noise (seeded 0 when None); one field [C, H, W] is drawn from it
            and serves every image.

    Returns:
        A new tensor like ``images``; kept pixels are unchanged.
    """
    if removed.shape != (images.shape[0], *images.shape[2:]):
        raise ConfigError(f"removed shape {list(removed.shape)} does not match images shape {list(images.shape)}")
    removed_np = removed.detach().cpu().numpy().astype(bool)
    if removed_np.reshape(len(removed_np), -1).all(axis=1).any():
        raise ConfigError("noisy linear imputation needs at least one kept pixel per image")
    values = images.detach().cpu().numpy().astype(np.float64)
    if not removed_np.any():
        return images.clone()
    scale = np.broadcast_to(np.asarray(noise, dtype=np.float64), images.shape[1])
    field = torch.randn(images.shape[1:], generator=default_generator(generator), dtype=torch.float64).numpy()
    for group in _groups(removed_np.reshape(len(removed_np), -1).sum(axis=1)):
        matrix, rhs, (index, ys, xs) = _linear_system(values[group], removed_np[group])
        # A is symmetric (w_pq = w_qp): a symmetric ordering roughly halves the LU's fill-in.
        solution = splu(matrix, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True}).solve(rhs)
        values[group][index, :, ys, xs] = solution + scale * field[:, ys, xs].T
    return torch.from_numpy(values).to(device=images.device, dtype=images.dtype)


def _groups(unknowns: np.ndarray) -> list[slice]:
    """Consecutive images with at most MAX_UNKNOWNS removed pixels together (at least one image each)."""
    groups, start, total = [], 0, 0
    for i, count in enumerate(unknowns):
        if i > start and total + count > MAX_UNKNOWNS:
            groups.append(slice(start, i))
            start, total = i, 0
        total += count
    groups.append(slice(start, len(unknowns)))
    return groups
