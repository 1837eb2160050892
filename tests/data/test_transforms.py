"""Transforms: masks stay aligned under augmentation; colour jitter matches torchvision's maths."""

import pytest
import torch
import torchvision.transforms.v2.functional as F
from torchvision import tv_tensors

from medattn.data.transforms import (
    AUGMENTATIONS,
    ColorJitter,
    build_transform,
    channel_statistics,
    jitter_params,
)
from medattn.errors import ConfigError


def _square_scene(size=32):
    """An image whose bright square is exactly its mask."""
    mask = torch.zeros(1, size, size, dtype=torch.uint8)
    mask[:, 8:20, 10:24] = 1
    image = (mask.repeat(3, 1, 1) * 200 + 20).to(torch.uint8)
    return tv_tensors.Image(image), tv_tensors.Mask(mask)


@pytest.mark.parametrize("augmentation", sorted(AUGMENTATIONS))
def test_masks_follow_every_geometric_transform(augmentation):
    torch.manual_seed(0)
    transform = build_transform(32, augmentation, mean=(0, 0, 0), std=(1, 1, 1))
    for _ in range(20):
        image, mask = transform(*_square_scene())
        assert image.shape == (3, 32, 32) and mask.shape == (1, 32, 32) and mask.dtype == torch.uint8
        gray = image.mean(0)
        bright = gray > (gray.max() + gray.min()) / 2  # colour jitter rescales intensities, keeps order
        inside = mask[0].bool()
        if inside.sum() > 10:  # the lesion survived the crop
            iou = (bright & inside).sum() / (bright | inside).sum()
            assert iou > 0.8


def test_grayscale_becomes_three_channels_and_is_normalised():
    image = tv_tensors.Image(torch.full((1, 4, 4), 255, dtype=torch.uint8))
    out = build_transform(4, "none", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))(image)
    assert out.shape == (3, 4, 4) and torch.allclose(out, torch.full((3, 4, 4), 2.0))


def test_unknown_augmentation_lists_the_choices():
    with pytest.raises(
        ConfigError, match="unknown augmentation 'heavy'; choose one of: none, goncalves2021, perez2018"
    ):
        build_transform(32, "heavy")


def test_colour_jitter_matches_torchvision_without_hue():
    torch.manual_seed(0)
    x = tv_tensors.Image(torch.rand(3, 8, 8) * 0.5 + 0.25)
    params = jitter_params(1.2, 0.8, 1.1, 0.0)
    ours = ColorJitter(0, 0, 0, 0).transform(x, params)
    reference = F.adjust_saturation(F.adjust_contrast(F.adjust_brightness(x, 1.2), 0.8), 1.1)
    torch.testing.assert_close(ours.as_subclass(torch.Tensor), reference.as_subclass(torch.Tensor), atol=2e-3, rtol=0)


def test_hue_shift_keeps_luma_and_is_close_to_torchvision_for_small_shifts():
    x = tv_tensors.Image(torch.rand(3, 8, 8) * 0.4 + 0.3)
    ours = ColorJitter(0, 0, 0, 0).transform(x, jitter_params(1, 1, 1, 0.03)).as_subclass(torch.Tensor)
    luma = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    torch.testing.assert_close((ours * luma).sum(0), (x * luma).sum(0), atol=1e-4, rtol=0)
    assert (ours - F.adjust_hue(x, 0.03)).abs().mean() < 0.03
    assert ColorJitter(0, 0, 0, 0).transform(x, jitter_params(1, 1, 1, 0)).allclose(x, atol=1e-6)


def test_colour_jitter_leaves_masks_alone():
    mask = tv_tensors.Mask(torch.ones(1, 4, 4, dtype=torch.uint8))
    assert ColorJitter(0.3, 0.3, 0.3, 0.1)(mask) is mask


def test_channel_statistics():
    images = torch.stack([torch.zeros(1, 2, 2, dtype=torch.uint8), torch.full((1, 2, 2), 255, dtype=torch.uint8)])
    mean, std = channel_statistics(images)
    assert mean == pytest.approx((0.5, 0.5, 0.5)) and std == pytest.approx((0.5345,) * 3, abs=1e-3)


def test_grey_images_get_the_same_jitter_as_their_three_channel_copy():
    grey = tv_tensors.Image(torch.rand(1, 8, 8) * 0.5 + 0.25)
    rgb = tv_tensors.Image(grey.repeat(3, 1, 1))
    params = jitter_params(1.2, 0.8, 1.3, 0.05)
    jitter = ColorJitter(0, 0, 0, 0)
    out_grey, out_rgb = jitter.transform(grey, params), jitter.transform(rgb, params)
    assert out_grey.shape == (1, 8, 8)
    torch.testing.assert_close(out_grey.repeat(3, 1, 1), out_rgb, atol=1e-5, rtol=0)
