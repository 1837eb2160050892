"""Transforms on torchvision.transforms.v2, so masks follow every geometric change of the image.

Inputs are uint8 tensors [C, H, W] already resized by the decoded cache; outputs are normalised
float tensors with 3 channels (grayscale repeated) and, when given, the mask transformed alike.
"""

import math

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from medattn.errors import choose

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# RGB -> YIQ; a hue shift is a rotation of the (I, Q) chroma plane.
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64)
_YIQ_INV = torch.linalg.inv(_YIQ)
_LUMA = _YIQ[0]


def jitter_params(brightness: float, contrast: float, saturation: float, hue_shift: float) -> dict:
    """The matrix and offset of one colour jitter (hue shift in turns)."""
    angle = hue_shift * 2 * math.pi
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[1, 0, 0], [0, cos, -sin], [0, sin, cos]], dtype=torch.float64)
    desaturate = torch.outer(torch.ones(3, dtype=torch.float64), _LUMA)
    chroma = (
        _YIQ_INV @ rotation @ _YIQ @ (saturation * torch.eye(3, dtype=torch.float64) + (1 - saturation) * desaturate)
    )
    matrix = contrast * brightness * chroma
    offset = (1 - contrast) * brightness * chroma.sum(1)
    grey = {"grey_scale": contrast * brightness, "grey_offset": (1 - contrast) * brightness}
    return {"matrix": matrix.float(), "offset": offset.float(), **grey}


class ColorJitter(v2.Transform):
    """Brightness, contrast and saturation factors in ``[1 - x, 1 + x]`` and a hue shift in
    ``[-hue, hue]`` turns, on float images in [0, 1]; masks pass through unchanged.

    All four adjustments are linear in the pixel values, so they are folded into one 3x3 matrix and
    one offset per image: ``out = clamp(A x + b)``. Deviations from torchvision's ColorJitter, made
    because its HSV round trip costs more per image than the training step it feeds: the hue shift
    is a rotation in YIQ space, the order is fixed (brightness, contrast, saturation, hue) and the
    result is clamped once at the end instead of after every step.
    """

    def __init__(self, brightness: float, contrast: float, saturation: float, hue: float):
        super().__init__()
        self.ranges = torch.tensor([brightness, contrast, saturation, hue], dtype=torch.float64)

    def make_params(self, flat_inputs) -> dict:
        factors = 1 + (torch.rand(4, dtype=torch.float64) * 2 - 1) * self.ranges
        brightness, contrast, saturation, hue = factors.tolist()
        return jitter_params(brightness, contrast, saturation, hue - 1)

    def transform(self, inpt, params: dict):
        if isinstance(inpt, tv_tensors.Mask) or not isinstance(inpt, torch.Tensor) or not inpt.is_floating_point():
            return inpt
        x = inpt.as_subclass(torch.Tensor)
        if x.shape[-3] == 1:  # grey: saturation and hue are no-ops, brightness and contrast are scalars
            out = params["grey_scale"] * x + params["grey_offset"] * x.mean((-2, -1), keepdim=True)
            return tv_tensors.wrap(out.clamp(0, 1), like=inpt)
        mean_luma = (x.mean((-2, -1)) * _LUMA.float()).sum(-1)[..., None, None, None]
        out = torch.einsum("ij,...jhw->...ihw", params["matrix"], x) + params["offset"].view(3, 1, 1) * mean_luma
        return tv_tensors.wrap(out.clamp(0, 1), like=inpt)


def goncalves2021_augmentation(size: int) -> tuple[list, list]:
    """Seed 000: random rotation (+-10 deg), translation (10 %), scaling (0.95-1.05), horizontal flip."""
    return [v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.95, 1.05)), v2.RandomHorizontalFlip()], []


def perez2018_augmentation(size: int) -> tuple[list, list]:
    """Perez et al. 2018's best scenario (used by seed 004): random resized crop (area 0.4-1),
    affine (rotation 0-90 deg, shear 20 deg, scale 0.8-1.2), horizontal and vertical flips, and
    saturation/contrast/brightness (factor 0.7-1.3) and hue (+-0.1) jitter."""
    geometric = [
        v2.RandomResizedCrop(size, scale=(0.4, 1.0), ratio=(3 / 4, 4 / 3), antialias=True),
        v2.RandomAffine(degrees=90, shear=20, scale=(0.8, 1.2)),
        v2.RandomHorizontalFlip(),
        v2.RandomVerticalFlip(),
    ]
    return geometric, [ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1)]


AUGMENTATIONS = {
    "none": lambda size: ([], []),
    "goncalves2021": goncalves2021_augmentation,
    "perez2018": perez2018_augmentation,
}


class ToThreeChannels(torch.nn.Module):
    """Repeat a single grayscale channel three times (ImageNet backbones expect RGB)."""

    def forward(self, image: torch.Tensor, *rest):
        if isinstance(image, tv_tensors.Image) and image.shape[-3] == 1:
            image = tv_tensors.wrap(image.repeat_interleave(3, dim=-3), like=image)
        return (image, *rest) if rest else image


def build_transform(
    size: int,
    augmentation: str = "none",
    *,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> v2.Compose:
    """The pipeline for one split: augmentation (``none`` for evaluation), 3 channels, normalisation.

    Call it as ``transform(image)`` or ``transform(image, mask)`` with ``tv_tensors.Image`` (uint8)
    and ``tv_tensors.Mask``; colour jitter only touches the image.
    """
    choose("augmentation", augmentation, AUGMENTATIONS)
    geometric, photometric = AUGMENTATIONS[augmentation](size)
    steps = [
        *geometric,  # on uint8 and on one channel for grey images: cheaper; masks follow
        v2.ToDtype(torch.float32, scale=True),
        *photometric,
        ToThreeChannels(),
        v2.Normalize(mean=list(mean), std=list(std)),
    ]
    return v2.Compose(steps)


def channel_statistics(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images [N, C, H, W] (grayscale counted as 3 equal channels).

    Compute it on the training split only, so evaluation data never informs the preprocessing.
    """
    values = images.float().div(255)
    if values.shape[1] == 1:
        values = values.repeat(1, 3, 1, 1)
    mean = values.mean(dim=(0, 2, 3))
    std = values.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())
