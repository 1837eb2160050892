import numpy as np
import pytest
import quantus
import torch

from medattn.errors import ConfigError
from medattn.explain.scores.complexity import gini_index, sparseness


def test_gini_of_one_hot_constant_and_zero_maps():
    n = 8 * 8
    one_hot = torch.zeros(1, 1, 8, 8)
    one_hot[0, 0, 3, 5] = -2.5  # sign is ignored: the index is taken of |map|
    constant = torch.full((1, 1, 8, 8), 0.3)
    values = sparseness(torch.cat([one_hot, constant, torch.zeros(1, 1, 8, 8)]))
    np.testing.assert_allclose(values, [1 - 1 / n, 0.0, 0.0], atol=1e-12)


def test_gini_by_hand():
    # sorted (0, 0, 1, 3): coefficients 2i - n - 1 = (-3, -1, 1, 3) -> (1 + 9) / (4 * 4)
    assert gini_index(torch.tensor([[3.0, 0.0, 1.0, 0.0]], dtype=torch.float64)).item() == pytest.approx(0.625)


def test_uniform_noise_scores_about_one_third():
    values = sparseness(torch.rand(4, 1, 64, 64, generator=torch.Generator().manual_seed(0)))
    np.testing.assert_allclose(values, 1 / 3, atol=0.02)


def test_matches_quantus_sparseness():
    maps = np.random.default_rng(1).normal(size=(5, 1, 16, 16))
    expected = quantus.Sparseness(disable_warnings=True)(
        model=None,
        x_batch=np.zeros((5, 1, 16, 16), np.float32),
        y_batch=np.zeros(5, int),
        a_batch=maps.copy(),
        channel_first=True,
    )
    np.testing.assert_allclose(sparseness(maps), expected, atol=1e-5)


def test_rejects_wrong_shape():
    with pytest.raises(ConfigError, match=r"maps must have shape \[B, 1, H, W\], got \[8, 8\]"):
        sparseness(torch.zeros(8, 8))
