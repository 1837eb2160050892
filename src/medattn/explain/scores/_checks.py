"""Input validation and small tensor helpers shared by the explanation-quality scores.

Every score takes maps ``[B, 1, H, W]`` (torch or numpy), images ``[B, C, H, W]`` and, where needed,
boolean masks ``[B, 1, H, W]`` and integer targets ``[B]``; a wrong shape raises a one-line
:class:`~medattn.errors.ConfigError` that names both shapes.
"""

from collections.abc import Callable, Iterator

import numpy as np
import torch

from medattn.errors import ConfigError


def as_tensor(values, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``values`` (torch or numpy or nested lists) as a detached tensor, keeping its device."""
    if isinstance(values, torch.Tensor):
        tensor = values.detach()
    else:
        try:
            tensor = torch.as_tensor(np.asarray(values))
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{name} must be a tensor or an array, got {type(values).__name__}") from error
    return tensor if dtype is None else tensor.to(dtype)


def check_maps(maps, name: str = "maps") -> torch.Tensor:
    """Maps as a float64 tensor ``[B, 1, H, W]`` with finite values."""
    maps = as_tensor(maps, name)
    if maps.ndim != 4 or maps.shape[1] != 1:
        raise ConfigError(f"{name} must have shape [B, 1, H, W], got {list(maps.shape)}")
    if maps.shape[0] == 0:
        raise ConfigError(f"{name} is empty (batch size 0)")
    maps = maps.to(torch.float64)
    if not torch.isfinite(maps).all():
        raise ConfigError(f"{name} contains NaN or infinite values")
    return maps


def check_masks(masks, maps: torch.Tensor) -> torch.Tensor:
    """Masks as a bool tensor on the maps' device, with the maps' shape; values must be 0/1."""
    masks = as_tensor(masks, "masks").to(maps.device)
    if tuple(masks.shape) != tuple(maps.shape):
        raise ConfigError(f"masks shape {list(masks.shape)} does not match maps shape {list(maps.shape)}")
    if masks.dtype != torch.bool:
        if not ((masks == 0) | (masks == 1)).all():
            raise ConfigError("masks must be boolean (or 0/1 values)")
        masks = masks.bool()
    return masks


def check_images(images, name: str = "images") -> torch.Tensor:
    """Images as a floating tensor ``[B, C, H, W]``."""
    images = as_tensor(images, name)
    if images.ndim != 4:
        raise ConfigError(f"{name} must have shape [B, C, H, W], got {list(images.shape)}")
    if images.shape[0] == 0:
        raise ConfigError(f"{name} is empty (batch size 0)")
    return images if images.is_floating_point() else images.float()


def check_maps_match_images(maps: torch.Tensor, images: torch.Tensor) -> None:
    """Maps ``[B, 1, H, W]`` must share batch size and spatial size with images ``[B, C, H, W]``."""
    if maps.shape[0] != images.shape[0] or maps.shape[2:] != images.shape[2:]:
        raise ConfigError(
            f"maps shape {list(maps.shape)} does not match images shape {list(images.shape)} "
            "(need the same batch size, height and width)"
        )


def check_targets(targets, batch: int, device: torch.device) -> torch.Tensor:
    """Targets as a long tensor ``[B]`` on ``device``."""
    targets = as_tensor(targets, "targets")
    if targets.ndim != 1 or targets.shape[0] != batch:
        raise ConfigError(f"targets must have shape [{batch}] (one per image), got {list(targets.shape)}")
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise ConfigError(f"targets must be integer class indices, got dtype {targets.dtype}")
    return targets.to(device=device, dtype=torch.long)


def check_positive_int(value: int, name: str) -> int:
    """``value`` if it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Raise when two tensors differ in shape, naming both shapes."""
    if tuple(a.shape) != tuple(b.shape):
        raise ConfigError(f"{name_a} shape {list(a.shape)} does not match {name_b} shape {list(b.shape)}")


def default_generator(generator: torch.Generator | None) -> torch.Generator:
    """``generator``, or a CPU generator seeded with 0 so that a call without one is reproducible."""
    if generator is None:
        return torch.Generator().manual_seed(0)
    if generator.device.type != "cpu":
        raise ConfigError(
            f"generator must be a CPU torch.Generator (draws are moved to the data), got {generator.device}"
        )
    return generator


def draw_seed(generator: torch.Generator) -> int:
    """One seed drawn from ``generator``, for draws that must be the same for every image.

    A score draws its per-image randomness from a fresh generator seeded with this value, image by image
    (the same draws for every image of that shape), so an image's score depends on the generator's state
    only, not on its position in the batch, the other images or the batch size.
    """
    return int(torch.randint(0, 2**62, (), generator=generator))


def slices(total: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` covering ``range(total)``."""
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))


def run_batched(fn: Callable[..., torch.Tensor], batch_size: int, *tensors: torch.Tensor) -> torch.Tensor:
    """``fn`` applied to consecutive batches of the rows of ``tensors``, outputs concatenated and detached."""
    outputs = [fn(*(t[part] for t in tensors)).detach() for part in slices(tensors[0].shape[0], batch_size)]
    return torch.cat(outputs)


def rank_pixels(values: torch.Tensor, descending: bool, generator: torch.Generator) -> torch.Tensor:
    """Rank position (0 = first) of every pixel of each row of ``values`` [B, N]; ties in random order.

    Ties are broken by a random permutation drawn from ``generator`` (then a stable sort), so a
    constant map is removed in random order instead of raster order. One permutation of the N pixels
    serves every row, so a row's ranks do not depend on its position or on the other rows.
    """
    keys = torch.rand(values.shape[1:], generator=generator).to(values.device).expand_as(values)
    permutation = keys.argsort(dim=1)
    order_in_permutation = values.gather(1, permutation).sort(dim=1, descending=descending, stable=True).indices
    order = permutation.gather(1, order_in_permutation)
    positions = torch.arange(values.shape[1], device=values.device).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, positions)
