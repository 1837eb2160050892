"""Lesions and their benign look-alikes, drawn as radial shapes with an exact ground-truth mask.

A shape is an ellipse whose border radius varies with the angle ``t`` around its centre::

    border(t) = radius * (1 + sum_k wobble_k * sin(k t + phase_k) + spike_length * max(cos(m t + psi), 0)^8)

with harmonics ``k`` in ``WOBBLE_HARMONICS`` and ``m`` spikes. A pixel belongs to the shape exactly
when its (aspect-corrected) distance to the centre is below ``border(t)``; its opacity ramps from 0
on the border to 1 at ``softness * radius`` inside it, so the shape adds nothing outside its mask
and the mask is exact ground truth.

Lesion kinds (``LESION_KINDS``; drawn uniformly, once per patient):

- ``irregular``: wobbly border (harmonics 2, 3, 5 of 8-16 % of the radius each), heterogeneous.
- ``spiculated``: round core (0.75 x radius) with 5-9 thin spikes reaching 1.7-2.3 x the core radius.
- ``low_contrast``: large (1.3 x radius), elongated, very soft edged blob at half the contrast.

Cysts (benign look-alikes): near-circular, sharp-edged, homogeneous blobs as bright as an irregular
lesion, present in half of all images whatever their label, so a cyst says nothing about the label.
"""

import math
from dataclasses import dataclass

import torch

from medattn.data.synthetic.anatomy import pixel_grid, pixel_width
from medattn.data.synthetic.draws import uniform

LESION_KINDS = ("irregular", "spiculated", "low_contrast")
WOBBLE_HARMONICS = (2, 3, 5)
CYST_PROBABILITY = 0.5
BASE_RADIUS = (0.14, 0.24)  # in image units (half the image width is 1), before the difficulty's size factor
MIN_RADIUS_PIXELS = 0.75  # any disc this wide holds a pixel centre, so no lesion mask is ever empty

# Per kind: radius factor, aspect range, wobble range, spike-length range, softness, contrast, texture.
_STYLE = torch.tensor(
    [
        [1.00, 0.70, 1.00, 0.08, 0.16, 0.0, 0.0, 0.15, 1.0, 0.4],  # irregular
        [0.75, 0.85, 1.00, 0.00, 0.04, 0.7, 1.3, 0.10, 1.0, 0.3],  # spiculated
        [1.30, 0.60, 0.90, 0.00, 0.06, 0.0, 0.0, 0.70, 0.5, 0.5],  # low_contrast
    ]
)


@dataclass(frozen=True)
class Shapes:
    """One radial shape per image (see the module docstring); coordinates in image units.

    Attributes:
        present: [n] bool, whether the image holds the shape at all.
        centre: [n, 2] (x, y).
        radius: [n] base radius.
        aspect: [n] minor/major axis ratio (<= 1).
        angle: [n] orientation of the major axis.
        wobble: [n, 3] amplitudes of the border harmonics, relative to the radius.
        phase: [n, 3] phases of the border harmonics.
        spikes: [n] number of spikes ``m`` (a float holding an integer).
        spike_length: [n] spike length relative to the radius (0 = no spikes).
        spike_phase: [n] ``psi``.
        softness: [n] width of the opacity ramp relative to the radius.
        contrast: [n] brightness relative to ``Difficulty.contrast``.
        texture: [n] interior heterogeneity in [0, 0.5] (0 = homogeneous).
    """

    present: torch.Tensor
    centre: torch.Tensor
    radius: torch.Tensor
    aspect: torch.Tensor
    angle: torch.Tensor
    wobble: torch.Tensor
    phase: torch.Tensor
    spikes: torch.Tensor
    spike_length: torch.Tensor
    spike_phase: torch.Tensor
    softness: torch.Tensor
    contrast: torch.Tensor
    texture: torch.Tensor


def point_in_ellipse(centre: torch.Tensor, axes: torch.Tensor, angle: torch.Tensor, rho, phi) -> torch.Tensor:
    """[n, 2] point at relative radius ``rho`` and polar angle ``phi`` of a rotated ellipse."""
    a, b = rho * torch.cos(phi) * axes[:, 0], rho * torch.sin(phi) * axes[:, 1]
    cos, sin = torch.cos(angle), torch.sin(angle)
    return centre + torch.stack([a * cos - b * sin, a * sin + b * cos], 1)


def sample_lesions(kind: torch.Tensor, organ: tuple, size: float, generator: torch.Generator) -> Shapes:
    """Lesions of the given kinds (-1: none) inside the organ ``(centre, axes, angle)``; ``size`` scales radii."""
    n, style = len(kind), _STYLE[kind.clamp(min=0)]
    rho, phi = 0.6 * torch.sqrt(torch.rand(n, generator=generator)), uniform(generator, n, 0.0, 2 * math.pi)
    return Shapes(
        present=kind >= 0,
        centre=point_in_ellipse(*organ, rho, phi),
        radius=uniform(generator, n, *BASE_RADIUS) * size * style[:, 0],
        aspect=uniform(generator, n, style[:, 1], style[:, 2]),
        angle=uniform(generator, n, 0.0, math.pi),
        wobble=uniform(generator, (n, 3), style[:, 3:4], style[:, 4:5]),
        phase=uniform(generator, (n, 3), 0.0, 2 * math.pi),
        spikes=torch.randint(5, 10, (n,), generator=generator).float(),
        spike_length=uniform(generator, n, style[:, 5], style[:, 6]),
        spike_phase=uniform(generator, n, 0.0, 2 * math.pi),
        softness=style[:, 7].clone(),
        contrast=style[:, 8].clone(),
        texture=style[:, 9].clone(),
    )


def sample_cysts(lesions: Shapes, organ: tuple, size: float, generator: torch.Generator) -> Shapes:
    """Cysts in ``CYST_PROBABILITY`` of the images, on the far side of the organ from the (planned) lesion."""
    n = len(lesions.present)
    offset = lesions.centre - organ[0]
    lesion_phi = torch.atan2(offset[:, 1], offset[:, 0]) - organ[2]
    phi = lesion_phi + math.pi + uniform(generator, n, -0.6, 0.6)
    zeros = torch.zeros(n)
    return Shapes(
        present=torch.rand(n, generator=generator) < CYST_PROBABILITY,
        centre=point_in_ellipse(*organ, uniform(generator, n, 0.35, 0.65), phi),
        radius=uniform(generator, n, 0.7 * BASE_RADIUS[0], 0.8 * BASE_RADIUS[1]) * size,
        aspect=uniform(generator, n, 0.9, 1.0),
        angle=uniform(generator, n, 0.0, math.pi),
        wobble=torch.zeros(n, 3),
        phase=torch.zeros(n, 3),
        spikes=zeros,
        spike_length=zeros,
        spike_phase=zeros,
        softness=torch.full((n,), 0.05),
        contrast=torch.ones(n),
        texture=zeros,
    )


def render_shapes(shapes: Shapes, texture: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Brightness [n, 1, s, s] (relative to ``Difficulty.contrast``) and exact bool masks [n, 1, s, s].

    Only images whose shape is present are computed; ``texture`` ([n, 1, s, s] in [-0.5, 0.5])
    modulates the interior by ``1 +- texture``.
    """
    n = len(shapes.present)
    brightness, masks = torch.zeros(n, 1, size, size), torch.zeros(n, 1, size, size, dtype=torch.bool)
    index = shapes.present.nonzero().squeeze(1)
    if len(index) == 0:
        return brightness, masks
    alpha, inside = _opacity(Shapes(*(value[index] for value in vars(shapes).values())), size)
    detail = texture[index, 0].mul_((2.0 * shapes.texture[index]).view(-1, 1, 1)).add_(1.0)
    brightness[index, 0] = alpha.mul_(detail).mul_(shapes.contrast[index].view(-1, 1, 1))
    masks[index, 0] = inside
    return brightness, masks


def _opacity(shapes: Shapes, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Opacity [n, s, s] in [0, 1] and bool mask [n, s, s]; the mask is exactly where the opacity is positive."""
    x, y = pixel_grid(size)
    cos, sin = torch.cos(shapes.angle).view(-1, 1, 1), torch.sin(shapes.angle).view(-1, 1, 1)
    x, y = x - shapes.centre[:, 0].view(-1, 1, 1), y - shapes.centre[:, 1].view(-1, 1, 1)
    squash = (1.0 / shapes.aspect).view(-1, 1, 1)
    u = x * cos + y * sin
    v = y * (cos * squash) - x * (sin * squash)
    border = _border(shapes, u, v)
    distance = u.square_().add_(v.square_()).sqrt_()
    border = torch.maximum(border, MIN_RADIUS_PIXELS * pixel_width(size) * squash)
    margin = border.sub_(distance)
    ramp = (shapes.softness * shapes.radius).view(-1, 1, 1)
    return (margin / ramp).clamp_(0.0, 1.0), margin > 0


def _border(shapes: Shapes, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Border radius [n, s, s] in the direction of each pixel; the angle is only computed when needed."""
    profile = torch.ones_like(u)
    needed = bool((shapes.wobble != 0).any()) or bool((shapes.spike_length != 0).any())
    theta = torch.atan2(v, u) if needed else None
    for column, k in enumerate(WOBBLE_HARMONICS):
        amplitude = shapes.wobble[:, column].view(-1, 1, 1)
        if bool((amplitude != 0).any()):
            wave = (theta * k).add_(shapes.phase[:, column].view(-1, 1, 1)).sin_()
            profile.add_(wave.mul_(amplitude))
    if bool((shapes.spike_length != 0).any()):
        spike = (theta * shapes.spikes.view(-1, 1, 1)).add_(shapes.spike_phase.view(-1, 1, 1)).cos_().clamp_(min=0.0)
        spike = spike.square_().square_().square_()  # cos^8: thin spikes
        profile.add_(spike.mul_(shapes.spike_length.view(-1, 1, 1)))
    return profile.mul_(shapes.radius.view(-1, 1, 1))
