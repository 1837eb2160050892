"""Repeatability: do two sets of maps of the same images agree (e.g. one architecture trained with two seeds)?

Both measures return one value per image. SSIM compares local structure of maps scaled to [0, 1];
Spearman's rank correlation compares the pixel ordering. The same functions measure the similarity
of maps before and after model randomisation in :mod:`medattn.explain.scores.sanity`.
"""

from itertools import combinations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

from medattn.errors import ConfigError, choose
from medattn.explain.scores._checks import check_maps, check_same_shape

SIMILARITY_MEASURES = ("ssim", "spearman")
SSIM_SIGMA, SSIM_TRUNCATE = 1.5, 3.5  # Wang et al. (2004); truncation as in scipy/skimage
SSIM_K1, SSIM_K2 = 0.01, 0.03


def unit_range(maps: torch.Tensor, *, signed: bool = False) -> torch.Tensor:
    """Scale each map to [0, 1] by its maximum absolute value.

    ``signed=False`` gives ``|m| / max|m|``; ``signed=True`` gives ``(m / max|m| + 1) / 2`` so that 0.5
    means zero relevance. An all-zero map stays all zero (``signed=False``) or 0.5.
    """
    scale = maps.abs().flatten(1).amax(1).clamp(min=torch.finfo(maps.dtype).tiny).view(-1, 1, 1, 1)
    return (maps / scale + 1) / 2 if signed else maps.abs() / scale


def _gaussian_window(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    weights = torch.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    return weights / weights.sum()


def _local_mean(values: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Gaussian-weighted local mean over the positions where the window fits ('valid' convolution)."""
    size = window.numel()
    return F.conv2d(F.conv2d(values, window.view(1, 1, size, 1)), window.view(1, 1, 1, size))


def ssim_unit(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM ``[B]`` of maps already in [0, 1] (data range 1), Gaussian window sigma 1.5.

    Matches ``skimage.metrics.structural_similarity(a, b, data_range=1, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``: the SSIM map is averaged over the pixels whose 11 x 11 window lies
    inside the image (skimage crops the same 5 px border).
    """
    window = _gaussian_window(a.dtype, a.device)
    if min(a.shape[2:]) < window.numel():
        raise ConfigError(f"SSIM needs maps of at least {window.numel()} x {window.numel()} px, got {list(a.shape)}")
    mean_a, mean_b = _local_mean(a, window), _local_mean(b, window)
    var_a = _local_mean(a * a, window) - mean_a**2
    var_b = _local_mean(b * b, window) - mean_b**2
    cov = _local_mean(a * b, window) - mean_a * mean_b
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    numerator = (2 * mean_a * mean_b + c1) * (2 * cov + c2)
    denominator = (mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2)
    return (numerator / denominator).flatten(1).mean(1)


def _pair(maps_a, maps_b) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = check_maps(maps_a, "maps_a"), check_maps(maps_b, "maps_b")
    check_same_shape(a, b, "maps_a", "maps_b")
    return a, b.to(a.device)


def ssim(maps_a, maps_b, *, signed: bool = False) -> np.ndarray:
    """Structural similarity per image between two sets of maps of the same images.

    Wang, Bovik, Sheikh & Simoncelli (2004), "Image quality assessment: from error visibility to
    structural similarity", IEEE TIP 13:600-612, with the Gaussian window (sigma 1.5) and constants
    ``K1 = 0.01``, ``K2 = 0.03``. Each map is first scaled to [0, 1] by :func:`unit_range` (by default
    ``|m| / max|m|``; Adebayo et al. 2018 also compare normalised maps by SSIM), so the scale is ignored.
    1 means identical maps; two independent noise maps score near 0.

    Args:
        maps_a, maps_b: ``[B, 1, H, W]`` each, ``H, W >= 11``.
        signed: compare signed maps (``(m / max|m| + 1) / 2``) instead of magnitudes.

    Returns:
        ``[B]`` float array in [-1, 1].
    """
    a, b = _pair(maps_a, maps_b)
    return ssim_unit(unit_range(a, signed=signed), unit_range(b, signed=signed)).cpu().numpy()


def spearman(maps_a, maps_b, *, absolute: bool = False) -> np.ndarray:
    """Spearman rank correlation per image between the pixels of two sets of maps.

    Spearman (1904); ties get their average rank, as ``scipy.stats.spearmanr`` does. ``absolute=True``
    ranks ``|m|`` (the "absolute value" variant of Adebayo et al. 2018, which ignores sign flips).

    Returns:
        ``[B]`` float array in [-1, 1]; NaN where a map is constant (its ranks carry no order).
    """
    a, b = _pair(maps_a, maps_b)
    if absolute:
        a, b = a.abs(), b.abs()
    ranks_a = rankdata(a.flatten(1).cpu().numpy(), axis=1)
    ranks_b = rankdata(b.flatten(1).cpu().numpy(), axis=1)
    ranks_a -= ranks_a.mean(axis=1, keepdims=True)
    ranks_b -= ranks_b.mean(axis=1, keepdims=True)
    scale = np.sqrt((ranks_a**2).sum(axis=1) * (ranks_b**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ranks_a * ranks_b).sum(axis=1) / scale
    return np.where(scale > 0, np.clip(rho, -1.0, 1.0), np.nan)


def similarity(maps_a, maps_b, measure: str, **options) -> np.ndarray:
    """``ssim`` or ``spearman`` (by name) per image; ``options`` go to that function."""
    choose("similarity measure", measure, SIMILARITY_MEASURES)
    return ssim(maps_a, maps_b, **options) if measure == "ssim" else spearman(maps_a, maps_b, **options)


def mean_pairwise_similarity(map_sets, measure: str = "ssim", **options) -> np.ndarray:
    """Mean similarity per image over all ``K (K - 1) / 2`` pairs of ``K >= 2`` sets of maps.

    For K training seeds of one architecture: ``map_sets[k]`` holds the maps ``[B, 1, H, W]`` of the same
    B images under seed k (a sequence of K map batches, or one array ``[K, B, 1, H, W]``).

    Returns:
        ``[B]`` float array; NaN for an image where any pair is NaN (constant maps under ``spearman``).
    """
    sets = list(map_sets)
    if len(sets) < 2:
        raise ConfigError(f"mean_pairwise_similarity needs at least 2 sets of maps, got {len(sets)}")
    scores = [similarity(sets[i], sets[j], measure, **options) for i, j in combinations(range(len(sets)), 2)]
    return np.mean(scores, axis=0)
