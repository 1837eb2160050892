import math

import numpy as np
import pytest
import quantus
import torch
from torch import nn

from medattn.errors import ConfigError
from medattn.explain.scores._checks import draw_seed
from medattn.explain.scores.robustness import max_sensitivity


def identity(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return images[:, :1]


def constant(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(images[:, :1])


IMAGES = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0)) + 0.5
TARGETS = torch.tensor([0, 1, 0])


def test_identity_explainer_is_the_largest_relative_noise_norm():
    radius = 0.05
    values = max_sensitivity(identity, IMAGES, TARGETS, radius=radius, generator=torch.Generator().manual_seed(7))
    # one seed from the generator, then the same unit draws for every image, scaled by the radius
    generator = torch.Generator().manual_seed(draw_seed(torch.Generator().manual_seed(7)))
    unit = 2 * torch.rand((10, *IMAGES.shape[1:]), generator=generator, dtype=torch.float64) - 1
    expected = []
    for image in IMAGES:
        noise = unit.to(image.dtype) * radius
        expected.append(noise.flatten(1).norm(dim=1).max() / image.norm())
    np.testing.assert_allclose(values, torch.stack(expected).numpy(), rtol=1e-5)
    # ||d||_2 <= r sqrt(n) for d in the L-inf ball, and about r sqrt(n / 3) for uniform draws
    norms = IMAGES.flatten(1).norm(dim=1).numpy()
    n = IMAGES[0].numel()
    assert (values <= radius * math.sqrt(n) / norms).all()
    assert (values >= 0.9 * radius * math.sqrt(n / 3) / norms).all()


def test_default_radius_is_two_percent_of_each_image_range():
    scaled = torch.cat([IMAGES[:1], 10 * IMAGES[:1]])  # range x10 and norm x10: same relative change
    values = max_sensitivity(identity, scaled, TARGETS[:2], n_samples=5)
    assert values[0] == pytest.approx(values[1], rel=0.2)


def test_constant_explainer_scores_zero_and_zero_maps_are_nan():
    np.testing.assert_array_equal(max_sensitivity(constant, IMAGES, TARGETS), [0, 0, 0])
    assert np.isnan(max_sensitivity(lambda x, t: torch.zeros_like(x), IMAGES, TARGETS)).all()


def test_same_seed_same_value_and_batch_size_does_not_matter():
    calls = []

    def recording(images, targets):
        calls.append(images.shape[0])
        return identity(images, targets) ** 2

    a = max_sensitivity(recording, IMAGES, TARGETS, generator=torch.Generator().manual_seed(1), batch_size=7)
    assert max(calls) <= 7 and sum(calls) == 3 + 3 * 10
    b = max_sensitivity(recording, IMAGES, TARGETS, generator=torch.Generator().manual_seed(1), batch_size=64)
    c = max_sensitivity(recording, IMAGES, TARGETS, generator=torch.Generator().manual_seed(2), batch_size=64)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not np.allclose(a, c)


def test_targets_reach_the_explainer_for_every_perturbed_copy():
    seen = []

    def by_target(images, targets):
        seen.append(targets.clone())
        return images[:, :1] * (1 + targets.view(-1, 1, 1, 1))

    max_sensitivity(by_target, IMAGES, TARGETS, n_samples=2, batch_size=64)
    assert seen[1].tolist() == [0, 0, 1, 1, 0, 0]


def test_close_to_quantus_max_sensitivity():
    # Both draw uniform noise in the L-inf ball (different generators): the maxima agree within sampling error.
    np.random.seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(256, 2))

    def explain_func(model, inputs, targets, **kwargs):
        return np.asarray(inputs)[:, :1]

    theirs = quantus.MaxSensitivity(nr_samples=10, lower_bound=0.05, disable_warnings=True)(
        model=model,
        x_batch=IMAGES.numpy(),
        y_batch=TARGETS.numpy(),
        a_batch=IMAGES.numpy(),
        explain_func=explain_func,
        channel_first=True,
    )
    ours = max_sensitivity(identity, IMAGES, TARGETS, radius=0.05)
    np.testing.assert_allclose(ours, theirs, rtol=0.05)


def test_inputs_are_validated():
    with pytest.raises(ConfigError, match=r"images must have shape \[B, C, H, W\], got \[16, 16\]"):
        max_sensitivity(identity, torch.zeros(16, 16), TARGETS)
    with pytest.raises(ConfigError, match="n_samples must be a positive integer"):
        max_sensitivity(identity, IMAGES, TARGETS, n_samples=0)
    with pytest.raises(ConfigError, match="radius must be a non-negative number"):
        max_sensitivity(identity, IMAGES, TARGETS, radius=-1.0)
    with pytest.raises(ConfigError, match=r"explain\(images, targets\) must have shape \[B, 1, H, W\]"):
        max_sensitivity(lambda x, t: x[:, 0], IMAGES, TARGETS)
