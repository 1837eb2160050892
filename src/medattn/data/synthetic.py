"""A small synthetic lesion task with ground-truth masks (the embedded default dataset).

Positive images hold one bright lesion with an irregular border on a smooth textured background;
negative images hold a fainter, round "benign" blob, so the classifier must look at the lesion's
appearance, not merely at whether a blob exists.
"""

import math

import torch
import torch.nn.functional as F


def _smooth_noise(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    coarse = torch.rand(n, 1, max(2, size // 8), max(2, size // 8), generator=generator)
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def _blob_masks(n: int, size: int, irregularity: float, generator: torch.Generator) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    centre = (torch.rand(n, 2, generator=generator) - 0.5) * 1.0
    radius = 0.18 + 0.14 * torch.rand(n, generator=generator)
    phase = torch.rand(n, 3, generator=generator) * 2 * math.pi
    dy, dx = ys[None] - centre[:, 0, None, None], xs[None] - centre[:, 1, None, None]
    angle, dist = torch.atan2(dy, dx), torch.sqrt(dx**2 + dy**2)
    wobble = sum(torch.sin((k + 3) * angle + phase[:, k, None, None]) for k in range(3)) / 3
    border = radius[:, None, None] * (1 + irregularity * wobble)
    return (dist < border).float().unsqueeze(1)


def make_lesion_dataset(n: int, size: int = 64, *, seed: int = 0, prevalence: float = 0.5):
    """Return ``(images [n,3,s,s] in [0,1], labels [n], masks [n,1,s,s])``, reproducible by seed."""
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.rand(n, generator=generator) < prevalence).long()
    background = 0.25 + 0.35 * _smooth_noise(n, size, generator)
    irregular = _blob_masks(n, size, 0.35, generator)
    round_ = _blob_masks(n, size, 0.0, generator)
    positive = labels.view(-1, 1, 1, 1).bool()
    masks = torch.where(positive, irregular, round_)
    intensity = torch.where(positive, torch.tensor(0.45), torch.tensor(0.2)).view(-1, 1, 1, 1)
    grey = background + masks * intensity + 0.05 * torch.randn(n, 1, size, size, generator=generator)
    tint = torch.tensor([1.0, 0.85, 0.75]).view(1, 3, 1, 1)
    images = (grey * tint).clamp(0, 1)
    return images, labels, torch.where(positive, masks, torch.zeros_like(masks))
