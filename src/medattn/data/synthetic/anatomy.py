"""The background of a synthetic scan: body and organ ellipses, tissue texture and vessels.

Coordinates are image units: ``x`` runs over [-1, 1] from the left column to the right one and ``y``
from the top row to the bottom one, whatever the image size. Body shape, organ shape, tissue grey
levels and vessels are drawn once per patient, so the 1-3 images of a patient look like slices of
the same anatomy; each image then gets its own small shift, texture and noise.
"""

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from medattn.data.synthetic.draws import uniform

N_VESSELS = 3
EDGE_PIXELS = 1.5  # width of the soft body and organ outlines
RIM_LEVEL = 0.08  # the brighter skin line along the body outline


@dataclass(frozen=True)
class Anatomy:
    """Per-image anatomy parameters (one row per image).

    Attributes:
        body_centre: [n, 2] (x, y) centre of the body ellipse.
        body_axes: [n, 2] semi-axes of the body ellipse.
        body_angle: [n] rotation of the body ellipse (radians).
        organ_centre: [n, 2] centre of the organ ellipse, inside the body.
        organ_axes: [n, 2] semi-axes of the organ ellipse.
        organ_angle: [n] rotation of the organ ellipse.
        levels: [n, 3] grey levels outside the body, of the body and of the organ.
        vessels: [n, N_VESSELS, 7] per vessel: angle, offset, amplitude, frequency, phase, width,
            brightness of a sine-shaped curve ``v = offset + amplitude * sin(frequency * u + phase)``
            in body coordinates rotated by ``angle``.
    """

    body_centre: torch.Tensor
    body_axes: torch.Tensor
    body_angle: torch.Tensor
    organ_centre: torch.Tensor
    organ_axes: torch.Tensor
    organ_angle: torch.Tensor
    levels: torch.Tensor
    vessels: torch.Tensor


def sample_anatomy(group: torch.Tensor, generator: torch.Generator) -> Anatomy:
    """Draw one anatomy per patient (``group`` holds each image's patient index), then shift each image."""
    n, patients = len(group), int(group.max()) + 1
    body_centre = uniform(generator, (patients, 2), -0.04, 0.04)
    per_patient = Anatomy(
        body_centre=body_centre,
        body_axes=torch.stack([uniform(generator, patients, 0.78, 0.92), uniform(generator, patients, 0.62, 0.80)], 1),
        body_angle=uniform(generator, patients, -0.3, 0.3),
        organ_centre=body_centre + uniform(generator, (patients, 2), -0.08, 0.08),
        organ_axes=torch.stack([uniform(generator, patients, 0.32, 0.45), uniform(generator, patients, 0.25, 0.38)], 1),
        organ_angle=uniform(generator, patients, 0.0, math.pi),
        levels=uniform(generator, (patients, 3), torch.tensor([0.02, 0.26, 0.40]), torch.tensor([0.06, 0.34, 0.48])),
        vessels=_sample_vessels(patients, generator),
    )
    per_image = Anatomy(*(value[group] for value in vars(per_patient).values()))
    shift = uniform(generator, (n, 2), -0.02, 0.02)  # slice-to-slice motion
    return replace(per_image, body_centre=per_image.body_centre + shift, organ_centre=per_image.organ_centre + shift)


def _sample_vessels(patients: int, generator: torch.Generator) -> torch.Tensor:
    shape = (patients, N_VESSELS)
    columns = [
        uniform(generator, shape, 0.0, math.pi),  # angle
        uniform(generator, shape, -0.5, 0.5),  # offset from the body centre
        uniform(generator, shape, 0.05, 0.20),  # amplitude
        uniform(generator, shape, 1.5, 4.0),  # frequency (radians per image unit)
        uniform(generator, shape, 0.0, 2 * math.pi),  # phase
        uniform(generator, shape, 0.02, 0.04),  # width (at least one pixel when rendered)
        uniform(generator, shape, 0.06, 0.16),  # brightness
    ]
    return torch.stack(columns, -1)


def pixel_grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` as [1, 1, size] and ``y`` as [1, size, 1], pixel centres in [-1, 1] (they broadcast to [1, s, s])."""
    axis = torch.linspace(-1.0, 1.0, size)
    return axis.view(1, 1, size), axis.view(1, size, 1)


def pixel_width(size: int) -> float:
    """Distance between neighbouring pixel centres in image units."""
    return 2.0 / max(size - 1, 1)


def ellipse_radius(centre: torch.Tensor, axes: torch.Tensor, angle: torch.Tensor, size: int) -> torch.Tensor:
    """[n, s, s] normalised radius ``sqrt((u/a)^2 + (v/b)^2)`` of each pixel; 1 on the outline."""
    x, y = pixel_grid(size)
    cos, sin = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    x, y = x - centre[:, 0].view(-1, 1, 1), y - centre[:, 1].view(-1, 1, 1)
    a, b = axes[:, 0].view(-1, 1, 1), axes[:, 1].view(-1, 1, 1)
    # Rotations are split into an x part [n, 1, s] and a y part [n, s, 1]: only their sums are full-size.
    u = x * (cos / a) + y * (sin / a)
    v = y * (cos / b) - x * (sin / b)
    return u.square_().add_(v.square_()).sqrt_()


def render_anatomy(anatomy: Anatomy, texture: torch.Tensor, amplitude: float, size: int) -> torch.Tensor:
    """Grey [n, 1, s, s] background: outside level, body, brighter organ, skin rim, texture, vessels.

    ``texture`` is a zero-mean field in [-0.5, 0.5] ([n, 1, s, s]); it is scaled by ``amplitude`` and
    only shows inside the body.
    """
    sharpness = 1.0 / (EDGE_PIXELS * pixel_width(size))
    outside, tissue, organ_level = (anatomy.levels[:, i].view(-1, 1, 1) for i in range(3))
    body_r = ellipse_radius(anatomy.body_centre, anatomy.body_axes, anatomy.body_angle, size)
    grey = (body_r - 0.97).abs_().mul_(-30.0).add_(1.0).clamp_(0.0, 1.0).mul_(RIM_LEVEL)  # the skin line
    body = _inside(body_r, sharpness * anatomy.body_axes.min(1).values)
    organ = _inside(
        ellipse_radius(anatomy.organ_centre, anatomy.organ_axes, anatomy.organ_angle, size),
        sharpness * anatomy.organ_axes.min(1).values,
    )
    grey.add_(organ.mul_(organ_level - tissue)).add_(outside)
    tissue_detail = _vessels(anatomy, size).add_(texture[:, 0], alpha=amplitude).add_(tissue - outside)
    return grey.add_(body.mul_(tissue_detail)).unsqueeze(1)


def _inside(radius: torch.Tensor, sharpness: torch.Tensor) -> torch.Tensor:
    """Opacity of an ellipse from its normalised ``radius`` (reused in place): 1 inside, a short ramp at the outline."""
    return radius.neg_().add_(1.0).mul_(sharpness.view(-1, 1, 1)).add_(0.5).clamp_(0.0, 1.0)


def _vessels(anatomy: Anatomy, size: int) -> torch.Tensor:
    """[n, s, s] brightness of the vessels: Gaussian profiles across sine-shaped centre lines."""
    x, y = pixel_grid(size)
    angle, offset, amplitude, frequency, phase, width, brightness = (
        anatomy.vessels[..., i].unsqueeze(-1).unsqueeze(-1) for i in range(7)
    )
    x = x.unsqueeze(0) - anatomy.body_centre[:, 0].view(-1, 1, 1, 1)  # [n, 1, 1, s]
    y = y.unsqueeze(0) - anatomy.body_centre[:, 1].view(-1, 1, 1, 1)  # [n, 1, s, 1]
    cos, sin = torch.cos(angle), torch.sin(angle)
    scale = 1.0 / width.clamp(min=pixel_width(size))
    along = (x * (cos * frequency) + phase) + y * (sin * frequency)  # the sine's argument, [n, V, s, s]
    across = (y * (cos * scale) - offset * scale) - x * (sin * scale)  # distance from the axis in widths
    # Clamped: exp of very negative numbers takes a slow path (about 20x slower) on x86.
    across.sub_(along.sin_().mul_(amplitude * scale)).square_().clamp_(max=30.0).neg_().exp_()
    return torch.einsum("nv,nvhw->nhw", brightness[:, :, 0, 0], across)


def multiscale_noise(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Smooth zero-mean texture [n, 1, s, s] in [-0.5, 0.5]: blobs of about 1/4, 1/8 and 1/16 of the image.

    The coarse scales are summed at the finest noise resolution and the sum is upsampled once,
    bilinearly, as two small matrix products (15 times faster than ``F.interpolate`` on one core).
    """
    fine = max(2, size // 4)
    total = 0.2 * torch.rand(n, fine, fine, generator=generator)
    for grid, weight in ((max(2, size // 16), 0.5), (max(2, size // 8), 0.3)):
        coarse = torch.rand(n, grid, grid, generator=generator)
        total.add_(_upsample(coarse, fine), alpha=weight)
    return _upsample(total, size).sub_(0.5).unsqueeze(1)


def _upsample(values: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear upsampling of [n, g, g] to [n, size, size] (``align_corners=False``) as ``W^T V W``."""
    weights = F.interpolate(torch.eye(values.shape[-1]).unsqueeze(1), size=size, mode="linear", align_corners=False)
    weights = weights[:, 0]  # [g, size]: the contribution of input g to each output pixel
    return weights.T @ values @ weights
