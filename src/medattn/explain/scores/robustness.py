"""Robustness scores: does the explanation stay put when the input barely changes?"""

from collections.abc import Callable

import numpy as np
import torch

from medattn.errors import ConfigError
from medattn.explain.scores._checks import (
    check_images,
    check_maps,
    check_positive_int,
    check_targets,
    default_generator,
    draw_seed,
    run_batched,
    slices,
)

Explain = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
RADIUS_FRACTION = 0.02  # of each image's value range


def _radii(images: torch.Tensor, radius: float | None, radius_fraction: float) -> torch.Tensor:
    """``[B]`` L-inf radius per image: ``radius``, or ``radius_fraction`` times the image's max - min."""
    if radius is not None:
        if not np.isfinite(radius) or radius < 0:
            raise ConfigError(f"radius must be a non-negative number, got {radius!r}")
        return torch.full((images.shape[0],), float(radius), dtype=images.dtype, device=images.device)
    if not np.isfinite(radius_fraction) or radius_fraction < 0:
        raise ConfigError(f"radius_fraction must be a non-negative number, got {radius_fraction!r}")
    flat = images.flatten(1)
    return radius_fraction * (flat.amax(1) - flat.amin(1))


def _unit_noise(generator: torch.Generator, n_samples: int, images: torch.Tensor) -> torch.Tensor:
    """``[n_samples, C, H, W]`` uniform draws in [-1, 1]: the same for every image (see ``max_sensitivity``)."""
    image_generator = torch.Generator().manual_seed(draw_seed(generator))
    draws = torch.rand((n_samples, *images.shape[1:]), generator=image_generator, dtype=torch.float64)
    return (2 * draws - 1).to(images.device, images.dtype)


def _explain_maps(explain: Explain, images: torch.Tensor, targets: torch.Tensor, batch_size: int) -> torch.Tensor:
    maps = run_batched(explain, batch_size, images, targets)
    return check_maps(maps, "explain(images, targets)").flatten(1)


def max_sensitivity(
    explain: Explain,
    images,
    targets,
    *,
    n_samples: int = 10,
    radius: float | None = None,
    radius_fraction: float = RADIUS_FRACTION,
    generator: torch.Generator | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Max-sensitivity: the largest relative change of the map under small uniform input noise.

    ``max_{k <= n_samples} ||e(x + d_k) - e(x)||_2 / ||e(x)||_2`` with ``d_k`` drawn uniformly from the
    L-inf ball of radius ``r`` (Yeh et al. 2019, "On the (in)fidelity and sensitivity of explanations",
    NeurIPS; the maximum over the ball is estimated by Monte-Carlo sampling). Lower is better;
    a map that ignores the input scores 0, so report it next to a faithfulness score.

    Deviations: Yeh et al. define the unnormalised ``||e(x + d) - e(x)||``; dividing by ``||e(x)||`` (as
    quantus 0.6 ``MaxSensitivity`` does by default) makes methods with different output scales comparable.
    The default radius is 2 % of each image's value range (``max - min``), so the score of an image does
    not depend on the other images in the batch; the perturbed images are not clipped to the data range.

    Args:
        explain: ``(images [N, C, H, W], targets [N]) -> maps [N, 1, H, W]``; may use gradients.
        images: ``[B, C, H, W]``.
        targets: ``[B]`` class explained for each image (the same target for its perturbed copies).
        n_samples: perturbations per image.
        radius: absolute L-inf radius; overrides ``radius_fraction``.
        radius_fraction: radius as a fraction of each image's value range.
        generator: CPU generator for the noise (seeded 0 when None). One seed is drawn from it; every
            image's ``n_samples`` perturbations ``d_k = r u_k`` use the same unit draws ``u_k`` from a
            generator with that seed, scaled by the image's own radius, so an image's score does not
            depend on its position, the other images or ``batch_size``.
        batch_size: images per ``explain`` call (perturbed copies of several images share a call).

    Returns:
        ``[B]`` float array; NaN where ``e(x)`` is all zero (relative change undefined).
    """
    images = check_images(images)
    targets = check_targets(targets, images.shape[0], images.device)
    n_samples = check_positive_int(n_samples, "n_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    generator = default_generator(generator)
    radii = _radii(images, radius, radius_fraction)
    unit_noise = _unit_noise(generator, n_samples, images)
    reference = _explain_maps(explain, images, targets, batch_size)
    if reference.shape[1] != images[0, 0].numel():
        raise ConfigError(f"explain returned maps of {reference.shape[1]} pixels for images {list(images.shape)}")
    scores = []
    for part in slices(images.shape[0], max(1, batch_size // n_samples)):
        perturbed = images[part, None] + unit_noise * radii[part].view(-1, 1, 1, 1, 1)
        maps = _explain_maps(explain, perturbed.flatten(0, 1), targets[part].repeat_interleave(n_samples), batch_size)
        change = (maps.view(-1, n_samples, maps.shape[1]) - reference[part, None]).norm(dim=2)
        scores.append(change.amax(dim=1) / reference[part].norm(dim=1))
    scores = torch.cat(scores)
    scores[reference.norm(dim=1) == 0] = float("nan")
    return scores.cpu().numpy()
