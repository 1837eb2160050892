"""Faithfulness scores: does removing what the map calls relevant change the model's output?

All scores here perturb each image at several levels, push every perturbed image of a chunk of images
through ``predict`` in batches of ``batch_size`` and read the probability of the explained target:

- ``predict(images [N, C, H, W]) -> probabilities [N, T]`` (e.g. ``TargetModel.predict``);
- ``targets`` ``[B]`` picks the column explained for each image.

Pixels are ranked by the signed map value (highest first = "most relevant"); pass ``|map|`` to rank
by magnitude. Ties are broken in random order from ``generator`` (seeded 0 when None), so a constant
map is not removed in raster order; one permutation serves every image. Random draws depend on the
``generator``'s state and the image shape only, so an image's score is the same alone, at any position
of any batch and for any ``batch_size``.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from medattn.errors import ConfigError, choose
from medattn.explain.scores._checks import (
    check_images,
    check_maps,
    check_maps_match_images,
    check_positive_int,
    check_targets,
    default_generator,
    draw_seed,
    rank_pixels,
    slices,
)
from medattn.explain.scores.imputation import ROAD_NOISE, noise_in_input_units, noisy_linear_imputation

Predict = Callable[[torch.Tensor], torch.Tensor]
ROAD_ORDERS = ("morf", "lerf")
ROAD_PERCENTAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
RISE_BLUR_SIZE, RISE_BLUR_SIGMA = 11, 5.0  # the insertion start image of Petsiuk et al. (2018)


@dataclass(frozen=True)
class PerturbationCurve:
    """Probability of the explained target for each image at each perturbation level.

    Attributes:
        fractions: ``[S]`` fraction of pixels removed (deletion, ROAD) or inserted (insertion).
        probabilities: ``[B, S]`` probability of each image's target at each level.
    """

    fractions: np.ndarray
    probabilities: np.ndarray

    @property
    def auc(self) -> np.ndarray:
        """``[B]`` area under each image's curve, trapezoid rule over ``fractions``."""
        return np.trapezoid(self.probabilities, self.fractions, axis=1)

    @property
    def mean(self) -> np.ndarray:
        """``[B]`` mean of each image's curve over the levels (the ROAD summary)."""
        return self.probabilities.mean(axis=1)


def _target_probabilities(predict: Predict, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        probabilities = predict(images)
    if not isinstance(probabilities, torch.Tensor) or probabilities.ndim != 2:
        shape = list(probabilities.shape) if hasattr(probabilities, "shape") else type(probabilities).__name__
        raise ConfigError(f"predict must return probabilities [N, T] for images {list(images.shape)}, got {shape}")
    if probabilities.shape[0] != images.shape[0]:
        raise ConfigError(f"predict returned {probabilities.shape[0]} rows for {images.shape[0]} images")
    if int(targets.max()) >= probabilities.shape[1] or int(targets.min()) < 0:
        raise ConfigError(f"targets must lie in [0, {probabilities.shape[1] - 1}] (predict has that many columns)")
    return probabilities.gather(1, targets.to(probabilities.device)[:, None])[:, 0].double().cpu()


def _perturbation_curves(predict, images, targets, levels: int, perturb, batch_size: int) -> np.ndarray:
    """``[B, levels]`` target probabilities; ``perturb(part) -> [b, levels, C, H, W]`` builds a chunk's images."""
    chunk = max(1, batch_size // levels)
    rows = []
    for part in slices(images.shape[0], chunk):
        perturbed = perturb(part).flatten(0, 1)
        repeated = targets[part].repeat_interleave(levels)
        probabilities = [
            _target_probabilities(predict, perturbed[batch], repeated[batch])
            for batch in slices(perturbed.shape[0], batch_size)
        ]
        rows.append(torch.cat(probabilities).view(-1, levels))
    return torch.cat(rows).numpy()


def _prepare(images, maps, targets, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images = check_images(images)
    maps = check_maps(maps).to(images.device)
    check_maps_match_images(maps, images)
    check_positive_int(batch_size, "batch_size")
    return images, maps, check_targets(targets, images.shape[0], images.device)


def _reference(baseline, images: torch.Tensor) -> torch.Tensor:
    baseline = torch.as_tensor(baseline, dtype=images.dtype, device=images.device)
    try:
        return baseline.expand_as(images)
    except RuntimeError as error:
        raise ConfigError(
            f"baseline shape {list(baseline.shape)} does not broadcast to images shape {list(images.shape)}"
        ) from error


def rise_blur(images: torch.Tensor) -> torch.Tensor:
    """The blurred image RISE's insertion starts from: per-channel Gaussian blur, 11 px kernel, sigma 5.

    The kernel is a unit impulse filtered with ``scipy.ndimage.gaussian_filter(sigma=5)`` on an 11 x 11
    grid and the convolution zero-pads the border, exactly as in the RISE reference code (Petsiuk et al.
    2018, ``evaluation.py``), so image borders darken slightly.
    """
    impulse = np.zeros((RISE_BLUR_SIZE, RISE_BLUR_SIZE))
    impulse[RISE_BLUR_SIZE // 2, RISE_BLUR_SIZE // 2] = 1
    kernel = torch.as_tensor(gaussian_filter(impulse, RISE_BLUR_SIGMA), dtype=images.dtype, device=images.device)
    channels = images.shape[1]
    weight = kernel.expand(channels, 1, RISE_BLUR_SIZE, RISE_BLUR_SIZE)
    return F.conv2d(images, weight, padding=RISE_BLUR_SIZE // 2, groups=channels)


def _pixel_counts(n_steps: int, pixels: int) -> torch.Tensor:
    return torch.round(torch.arange(n_steps + 1, dtype=torch.float64) * pixels / n_steps).long()


def _step_curve(predict, images, maps, targets, *, n_steps, baseline, start_from_baseline, generator, batch_size):
    images, maps, targets = _prepare(images, maps, targets, batch_size)
    check_positive_int(n_steps, "n_steps")
    pixels = maps[0].numel()
    counts = _pixel_counts(n_steps, pixels).to(images.device)
    ranks = rank_pixels(maps.flatten(1), True, default_generator(generator))
    reference = _reference(baseline, images)

    def perturb(part: slice) -> torch.Tensor:
        changed = (ranks[part, None, :] < counts[None, :, None]).view(-1, n_steps + 1, 1, *images.shape[2:])
        first, second = (images[part], reference[part]) if start_from_baseline else (reference[part], images[part])
        return torch.where(changed, first[:, None], second[:, None])

    probabilities = _perturbation_curves(predict, images, targets, n_steps + 1, perturb, batch_size)
    return PerturbationCurve(fractions=(counts.double() / pixels).cpu().numpy(), probabilities=probabilities)


def deletion_curve(
    predict: Predict,
    images,
    maps,
    targets,
    *,
    n_steps: int = 32,
    baseline=0.0,
    generator: torch.Generator | None = None,
    batch_size: int = 64,
) -> PerturbationCurve:
    """Deletion: the target probability as the most relevant pixels are replaced by ``baseline``.

    Petsiuk, Das & Saenko (2018), "RISE: Randomized input sampling for explanation of black-box models",
    BMVC. Level ``k`` of ``n_steps`` replaces the ``round(k H W / n_steps)`` highest-ranked
    pixels (all channels) by the baseline; the curve has ``n_steps + 1`` points from the intact image to
    the full baseline. Lower AUC is better (probability drops fast).

    Deviation: RISE removes a fixed number of pixels per step (224 for 224 px images, i.e. 224 steps);
    ``n_steps`` (default 32) sets the resolution instead, the AUC converges as it grows.

    Args:
        predict: images ``[N, C, H, W]`` -> probabilities ``[N, T]``.
        images: ``[B, C, H, W]`` in whatever space ``predict`` expects.
        maps: ``[B, 1, H, W]``.
        targets: ``[B]`` column of each image.
        n_steps: number of removal steps.
        baseline: replacement values, broadcastable to ``images``; 0 ("black" in the given space) by default.
        generator: CPU generator for tie-breaking.
        batch_size: images per ``predict`` call.
    """
    return _step_curve(
        predict,
        images,
        maps,
        targets,
        n_steps=n_steps,
        baseline=baseline,
        start_from_baseline=False,
        generator=generator,
        batch_size=batch_size,
    )


def insertion_curve(
    predict: Predict,
    images,
    maps,
    targets,
    *,
    n_steps: int = 32,
    baseline=None,
    generator: torch.Generator | None = None,
    batch_size: int = 64,
) -> PerturbationCurve:
    """Insertion: the target probability as the most relevant pixels are restored into ``baseline``.

    Petsiuk et al. (2018), RISE: starting from a blurred copy of the image (``baseline=None``
    uses :func:`rise_blur`), level ``k`` restores the ``round(k H W / n_steps)`` highest-ranked pixels.
    Higher AUC is better. Arguments as in :func:`deletion_curve`.
    """
    images = check_images(images)
    start = rise_blur(images) if baseline is None else baseline
    return _step_curve(
        predict,
        images,
        maps,
        targets,
        n_steps=n_steps,
        baseline=start,
        start_from_baseline=True,
        generator=generator,
        batch_size=batch_size,
    )


def deletion_auc(predict: Predict, images, maps, targets, **options) -> np.ndarray:
    """``[B]`` deletion AUC per image (lower is better); options as in :func:`deletion_curve`."""
    return deletion_curve(predict, images, maps, targets, **options).auc


def insertion_auc(predict: Predict, images, maps, targets, **options) -> np.ndarray:
    """``[B]`` insertion AUC per image (higher is better); options as in :func:`insertion_curve`."""
    return insertion_curve(predict, images, maps, targets, **options).auc


def road(
    predict: Predict,
    images,
    maps,
    targets,
    *,
    order: str = "morf",
    percentages=ROAD_PERCENTAGES,
    noise: float = ROAD_NOISE,
    pixel_std=None,
    generator: torch.Generator | None = None,
    batch_size: int = 64,
) -> PerturbationCurve:
    """ROAD: RemOve And Debias, the target probability after noisy linear imputation of ranked pixels.

    Rong et al. (2022), "A consistent and efficient evaluation strategy for attribution methods", ICML.
    For each percentage ``p``, the ``round(p H W)`` most relevant (``order="morf"``) or least relevant
    (``"lerf"``) pixels are removed and filled in by :func:`~medattn.explain.scores.imputation.noisy_linear_imputation`,
    which hides the removal pattern from the model without retraining. MoRF: lower is better; LeRF:
    higher is better; report both. The summary per image is ``curve.mean`` over the percentages.

    Deviation: the paper reports accuracy over a data set; here the per-image probability of the
    explained target is returned (its mean over images is the paper's curve for soft accuracy).

    Args:
        predict, images, maps, targets, generator, batch_size: as in :func:`deletion_curve`.
        order: ``"morf"`` (most relevant first) or ``"lerf"`` (least relevant first).
        percentages: fractions in (0, 1) of pixels removed, default 0.1, 0.2, ..., 0.9 as in the paper.
        noise: standard deviation of the imputation noise in pixel units (pixel values in [0, 1]; the
            paper's 0.01 by default), whatever the images' normalisation.
        pixel_std: per-channel std the images were normalised with (``(pixel - mean) / std``; e.g.
            ``Normalisation().std``); the noise is divided by it. None: the images are pixels in [0, 1].

    Returns:
        A :class:`PerturbationCurve` with ``fractions = percentages`` and probabilities ``[B, S]``.
    """
    choose("ROAD order", order, ROAD_ORDERS)
    fractions = np.asarray(percentages, dtype=np.float64).reshape(-1)
    if fractions.size == 0 or not ((fractions > 0) & (fractions < 1)).all():
        raise ConfigError(f"percentages must be fractions in (0, 1), got {list(percentages)}")
    images, maps, targets = _prepare(images, maps, targets, batch_size)
    noise = noise_in_input_units(noise, pixel_std, images.shape[1])
    generator = default_generator(generator)
    pixels = maps[0].numel()
    counts = torch.as_tensor(np.round(fractions * pixels).astype(np.int64), device=images.device)
    ranks = rank_pixels(maps.flatten(1), order == "morf", generator)
    noise_seed, levels = draw_seed(generator), len(fractions)

    def perturb(part: slice) -> torch.Tensor:
        removed = (ranks[part, None, :] < counts[None, :, None]).view(-1, *images.shape[2:])
        copies = images[part].repeat_interleave(levels, dim=0)
        noise_generator = torch.Generator().manual_seed(noise_seed)  # the same noise field for every image
        imputed = noisy_linear_imputation(copies, removed, noise=noise, generator=noise_generator)
        return imputed.view(-1, levels, *images.shape[1:])

    probabilities = _perturbation_curves(predict, images, targets, levels, perturb, batch_size)
    return PerturbationCurve(fractions=fractions, probabilities=probabilities)
