"""Localisation scores: does the explanation point at the annotated region (lesion mask, bounding box)?

All functions take maps ``[B, 1, H, W]`` and boolean masks of the same shape (torch or numpy) and
return one float per image (numpy ``[B]``), vectorised over the batch.

Conventions shared by every score here:

- **Empty mask**: the score is NaN (there is nothing to localise); aggregate with ``np.nanmean``.
- **All-zero map** (or, for scores on positive relevance, a map with no positive value): treated as
  a uniform map, i.e. every pixel ties. Ties are scored by their *expected value under random
  tie-breaking*, so an uninformative map gets exactly the chance value (mask area / image area
  for the mass- and rank-based scores) instead of NaN or an arbitrary raster-order answer.
"""

import numpy as np
import torch
import torch.nn.functional as F

from medattn.errors import ConfigError, choose
from medattn.explain.scores._checks import check_maps, check_masks

RELEVANCE_KINDS = ("absolute", "positive")
POINTING_TOLERANCE_PX = 15  # Zhang et al. (2018), for 224 px inputs


def _flatten(maps, masks) -> tuple[torch.Tensor, torch.Tensor]:
    maps = check_maps(maps)
    masks = check_masks(masks, maps)
    return maps.flatten(1), masks.flatten(1)


def _relevance(values: torch.Tensor, relevance: str) -> torch.Tensor:
    choose("relevance", relevance, RELEVANCE_KINDS)
    return values.abs() if relevance == "absolute" else values.clamp(min=0)


def _mass_in_mask(relevance: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
    """Share of non-negative ``relevance`` [B, N] in ``masks``; uniform if all zero, NaN for an empty mask."""
    area = masks.sum(1)
    total = relevance.sum(1)
    within = (relevance * masks).sum(1)
    chance = area / masks.shape[1]
    score = torch.where(total > 0, within / total.clamp(min=torch.finfo(total.dtype).tiny), chance.to(total.dtype))
    score = torch.where(area > 0, score, torch.full_like(score, float("nan")))
    return score.cpu().numpy()


def relevance_mass_accuracy(maps, masks, *, relevance: str = "absolute") -> np.ndarray:
    """Relevance mass accuracy: the share of the explanation's relevance that lies inside the mask.

    ``R_within / R_total`` with ``R`` the relevance of each pixel (Arras, Osman & Samek 2022,
    "CLEVR-XAI: A benchmark dataset for the ground truth evaluation of neural network explanations",
    Information Fusion 81:14-40). Higher is better; a uniform map scores ``|mask| / (H W)``.

    Deviation: the paper defines the score on a pooled, non-negative heatmap. Signed maps are made
    non-negative here by ``relevance``: ``"absolute"`` uses ``|map|``, as the authors' evaluation code
    does (``calc_overlap`` in github.com/ahmedmagdiosman/clevr-xai); ``"positive"`` keeps only positive
    evidence. quantus 0.6 ``RelevanceMassAccuracy`` sums the signed values; both agree on non-negative maps.

    Args:
        maps: explanations ``[B, 1, H, W]``.
        masks: ground-truth regions ``[B, 1, H, W]`` (bool or 0/1).
        relevance: ``"absolute"`` or ``"positive"``.

    Returns:
        ``[B]`` float array in [0, 1]; NaN for an empty mask.
    """
    maps, masks = _flatten(maps, masks)
    return _mass_in_mask(_relevance(maps, relevance), masks)


def relevance_rank_accuracy(maps, masks, *, relevance: str = "absolute") -> np.ndarray:
    """Relevance rank accuracy: the share of the ``K = |mask|`` highest-relevance pixels that lie in the mask.

    Arras, Osman & Samek (2022), CLEVR-XAI, Information Fusion 81:14-40. Higher is better; a
    random map scores ``K / (H W)`` in expectation.

    Ties at the K-th value are resolved by expectation: of the ``m`` tied pixels that still fit in the
    top K, each tied pixel is counted with probability ``m / n_tied``. This makes an all-zero map score
    ``K / (H W)`` (chance) and differs from quantus 0.6 only when values tie (quantus takes the tied
    pixels in ``argsort`` order). ``relevance`` as in :func:`relevance_mass_accuracy`.

    Returns:
        ``[B]`` float array in [0, 1]; NaN for an empty mask.
    """
    maps, masks = _flatten(maps, masks)
    values = _relevance(maps, relevance)
    k = masks.sum(1)
    kth_index = (k - 1).clamp(min=0).unsqueeze(1)
    threshold = values.sort(dim=1, descending=True).values.gather(1, kth_index)
    above, tied = values > threshold, values == threshold
    hits_above = (above & masks).sum(1).to(values.dtype)
    free_slots = (k - above.sum(1)).to(values.dtype)
    hits_tied = (tied & masks).sum(1).to(values.dtype) * free_slots / tied.sum(1).to(values.dtype)
    score = (hits_above + hits_tied) / k.clamp(min=1).to(values.dtype)
    score = torch.where(k > 0, score, torch.full_like(score, float("nan")))
    return score.cpu().numpy()


def energy_pointing_game(maps, masks, *, bounding_box: bool = False) -> np.ndarray:
    """Energy-based pointing game: the share of positive relevance energy inside the mask.

    ``sum_{(i,j) in mask} L+(i,j) / sum_{(i,j)} L+(i,j)`` with ``L+`` the positive part of the map
    (Wang et al. 2020, "Score-CAM: Score-weighted visual explanations for convolutional neural
    networks", CVPR Workshops). Higher is better; a uniform map scores ``|mask| / (H W)``.

    Wang et al. use bounding boxes. With ``bounding_box=True`` each mask is first replaced by its
    tight bounding box, which reproduces their protocol from segmentation masks; with the default
    (``False``) the mask is used as given, so a lesion outline is not diluted by its box corners.
    On non-negative maps this equals :func:`relevance_mass_accuracy` with ``relevance="positive"``.

    Returns:
        ``[B]`` float array in [0, 1]; NaN for an empty mask.
    """
    maps = check_maps(maps)
    masks = check_masks(masks, maps)
    if bounding_box:
        masks = bounding_boxes(masks)
    return _mass_in_mask(maps.flatten(1).clamp(min=0), masks.flatten(1))


def bounding_boxes(masks: torch.Tensor) -> torch.Tensor:
    """The tight axis-aligned bounding box of each mask ``[B, 1, H, W]`` (an empty mask stays empty)."""
    rows, cols = masks.any(dim=3)[:, 0], masks.any(dim=2)[:, 0]  # [B, H], [B, W]

    def extent(present: torch.Tensor) -> torch.Tensor:
        size = present.shape[1]
        first = present.to(torch.uint8).argmax(1)
        last = size - 1 - present.flip(1).to(torch.uint8).argmax(1)
        index = torch.arange(size, device=present.device)
        return (index >= first[:, None]) & (index <= last[:, None]) & present.any(1, keepdim=True)

    return (extent(rows)[:, :, None] & extent(cols)[:, None, :]).unsqueeze(1)


def dilate(masks: torch.Tensor, radius: float) -> torch.Tensor:
    """Pixels within Euclidean distance ``radius`` of a mask pixel (a disk dilation of ``masks`` [B, 1, H, W])."""
    reach = int(np.floor(radius))
    if reach < 1:
        return masks
    offsets = torch.arange(-reach, reach + 1, device=masks.device, dtype=torch.float32)
    disk = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).to(torch.float32)
    # Counts are small integers, exact in float32; > 0.5 reads "at least one mask pixel in reach".
    return F.conv2d(masks.to(torch.float32), disk[None, None], padding=reach) > 0.5


def pointing_game(maps, masks, *, tolerance: float = POINTING_TOLERANCE_PX) -> np.ndarray:
    """Pointing game: a hit when the map's maximum lies within ``tolerance`` pixels of the mask.

    Zhang et al. (2018), "Top-down neural attention by excitation backprop", IJCV 126:1084-1102:
    a hit if the maximum point lies inside the annotated region or at most 15 px from it (for 224 px
    inputs; scale ``tolerance`` with the image size). Distance is Euclidean, to the nearest mask pixel,
    and a distance of exactly ``tolerance`` is a hit. The maximum is taken over the signed map.

    Ties: when several pixels share the maximum, the score is the fraction of them that hit (the
    expected hit under random tie-breaking); quantus 0.6 ``PointingGame`` (no tolerance) counts a hit
    if *any* of them is inside. An all-zero map thus scores the fraction of the image within
    ``tolerance`` of the mask (chance).

    Args:
        maps: explanations ``[B, 1, H, W]``.
        masks: ground-truth regions ``[B, 1, H, W]``.
        tolerance: pixels; 0 requires the maximum to lie inside the mask.

    Returns:
        ``[B]`` float array: 1.0 hit, 0.0 miss (fractions only with tied maxima); NaN for an empty mask.
    """
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ConfigError(f"tolerance must be a non-negative number of pixels, got {tolerance!r}")
    maps = check_maps(maps)
    masks = check_masks(masks, maps)
    near = dilate(masks, float(tolerance)).flatten(1)
    values = maps.flatten(1)
    is_max = values == values.amax(dim=1, keepdim=True)
    score = (is_max & near).sum(1).to(torch.float64) / is_max.sum(1).to(torch.float64)
    score = torch.where(masks.flatten(1).any(1), score, torch.full_like(score, float("nan")))
    return score.cpu().numpy()
