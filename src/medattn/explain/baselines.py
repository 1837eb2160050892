"""Named reference inputs for path and difference methods (integrated gradients, DeepLIFT, occlusion).

Every baseline is defined in pixel space and then normalised the way the model's inputs are, so
"black" really is a black image, whatever the normalisation; the baseline's name is stored with
every explanation. Images passed in are already normalised (``(pixel - mean) / std``).
"""

from dataclasses import dataclass

import torch
from torchvision.transforms.v2 import functional as TF

from medattn.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from medattn.errors import choose

BASELINES = ("black", "blurred", "uniform", "mean")
BLUR_SIGMA_FRACTION = 1 / 16  # blurred baseline: Gaussian sigma = image side / 16 (Sturmfels et al. 2020)


@dataclass(frozen=True)
class Normalisation:
    """Per-channel mean and std the model's inputs were normalised with (pixel values in [0, 1])."""

    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def _shape(self, values: tuple[float, ...], like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(values, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixel values in [0, 1] -> model inputs."""
        return (pixels - self._shape(self.mean, pixels)) / self._shape(self.std, pixels)

    def denormalise(self, inputs: torch.Tensor) -> torch.Tensor:
        """Model inputs -> pixel values (clipped to [0, 1])."""
        return (inputs * self._shape(self.std, inputs) + self._shape(self.mean, inputs)).clamp(0, 1)


def make_baseline(
    name: str,
    images: torch.Tensor,
    normalisation: Normalisation | None = None,
    *,
    seed: int = 0,
    dataset_mean: tuple[float, ...] | None = None,
) -> torch.Tensor:
    """The baseline ``name`` for a batch of normalised images, same shape, normalised.

    Args:
        name: ``black`` (pixel value 0), ``blurred`` (the image under a Gaussian blur of sigma =
            side/16), ``uniform`` (i.i.d. uniform pixel noise in [0, 1], one draw [C, H, W] from a CPU
            generator seeded with ``seed``, the same for every image, so an image's baseline does not
            depend on its position in the batch or on the chunk it runs in), ``mean``
            (the dataset's per-channel mean pixel; defaults to the normalisation mean, which is
            the dataset mean when the model was normalised with dataset statistics).
        images: normalised inputs [B, C, H, W].
        normalisation: how ``images`` were normalised.
        seed: seed of the ``uniform`` baseline (same seed, same baseline).
        dataset_mean: per-channel mean pixel value for ``mean``.
    """
    choose("baseline", name, BASELINES)
    normalisation = normalisation or Normalisation()
    if name == "blurred":
        sigma = max(images.shape[-1], images.shape[-2]) * BLUR_SIGMA_FRACTION
        kernel = 2 * int(3 * sigma) + 1
        return TF.gaussian_blur(images, [kernel, kernel], [sigma, sigma])
    if name == "uniform":
        generator = torch.Generator().manual_seed(seed)
        pixels = torch.rand(images.shape[1:], generator=generator).to(images).expand_as(images)
        return normalisation.normalise(pixels)
    if name == "black":
        return normalisation.normalise(torch.zeros_like(images))
    mean = dataset_mean or normalisation.mean
    pixels = torch.tensor(mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1).expand_as(images)
    return normalisation.normalise(pixels.contiguous())
