import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

from medattn.errors import ConfigError
from medattn.explain.scores.repeatability import mean_pairwise_similarity, spearman, ssim, unit_range


def random_maps(seed: int, shape=(4, 1, 16, 16)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)


def test_identical_maps_score_one():
    maps = random_maps(0)
    np.testing.assert_allclose(ssim(maps, maps), 1.0)
    np.testing.assert_allclose(spearman(maps, maps), 1.0)


@pytest.mark.parametrize("shape", [(4, 1, 16, 16), (2, 1, 24, 19), (1, 1, 11, 11)])
def test_ssim_matches_skimage(shape):
    a, b = random_maps(1, shape), random_maps(2, shape)
    b = 0.6 * b + 0.4 * a  # partly similar, so values are not all near 0
    ours = ssim(a, b)
    scaled_a, scaled_b = unit_range(a).numpy(), unit_range(b).numpy()
    expected = [skimage_ssim(scaled_a[i, 0], scaled_b[i, 0]) for i in range(shape[0])]
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)


def test_ssim_signed_scaling_and_scale_invariance():
    a, b = random_maps(3), random_maps(4)
    np.testing.assert_allclose(ssim(a, -a), 1.0)  # magnitudes agree
    assert (ssim(a, -a, signed=True) < 0.5).all()
    np.testing.assert_allclose(ssim(a, b), ssim(7 * a, 0.1 * b), rtol=1e-10)
    signed = unit_range(torch.tensor([[[[-2.0, 0.0], [1.0, 2.0]]]]), signed=True)
    np.testing.assert_allclose(signed.flatten().numpy(), [0.0, 0.5, 0.75, 1.0])


def test_spearman_matches_scipy_with_ties():
    a = torch.round(random_maps(5) * 2) / 2  # coarse values: many ties
    b = torch.round((a + random_maps(6)) * 2) / 2
    expected = [spearmanr(a[i].flatten(), b[i].flatten()).statistic for i in range(4)]
    np.testing.assert_allclose(spearman(a, b), expected, rtol=1e-10)
    expected_abs = [spearmanr(a[i].abs().flatten(), b[i].abs().flatten()).statistic for i in range(4)]
    np.testing.assert_allclose(spearman(a, b, absolute=True), expected_abs, rtol=1e-10)


def test_spearman_of_a_constant_map_is_nan():
    values = spearman(torch.zeros(2, 1, 4, 4), random_maps(7, (2, 1, 4, 4)))
    assert np.isnan(values).all()


def test_mean_over_all_pairs_of_seeds():
    sets = [random_maps(seed) for seed in (8, 9, 10)]
    pairs = [ssim(sets[0], sets[1]), ssim(sets[0], sets[2]), ssim(sets[1], sets[2])]
    np.testing.assert_allclose(mean_pairwise_similarity(sets), np.mean(pairs, axis=0))
    stacked = torch.stack(sets)  # [K, B, 1, H, W] works too
    rho = [spearman(sets[0], sets[1]), spearman(sets[0], sets[2]), spearman(sets[1], sets[2])]
    np.testing.assert_allclose(mean_pairwise_similarity(stacked, "spearman"), np.mean(rho, axis=0))
    with pytest.raises(ConfigError, match="at least 2 sets"):
        mean_pairwise_similarity(sets[:1])
    with pytest.raises(ConfigError, match="unknown similarity measure 'pearson'; choose one of: ssim, spearman"):
        mean_pairwise_similarity(sets, "pearson")


def test_inputs_are_validated():
    with pytest.raises(
        ConfigError, match=r"maps_a shape \[4, 1, 16, 16\] does not match maps_b shape \[4, 1, 16, 12\]"
    ):
        spearman(random_maps(0), random_maps(1, (4, 1, 16, 12)))
    with pytest.raises(ConfigError, match="SSIM needs maps of at least 11 x 11 px"):
        ssim(random_maps(0, (1, 1, 8, 8)), random_maps(1, (1, 1, 8, 8)))
