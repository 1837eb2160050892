import numpy as np
import pytest
import torch
from quantus.functions.perturb_func import noisy_linear_imputation as quantus_imputation
from scipy.ndimage import gaussian_filter

from medattn.errors import ConfigError
from medattn.explain.scores import imputation
from medattn.explain.scores.faithfulness import (
    deletion_auc,
    deletion_curve,
    insertion_auc,
    insertion_curve,
    rise_blur,
    road,
)
from medattn.explain.scores.imputation import noisy_linear_imputation

SIZE = 8
REGION = torch.zeros(1, 1, SIZE, SIZE, dtype=torch.bool)
REGION[..., :4, :4] = True  # a quarter of the image


class RegionMass:
    """Toy model: the probability of class 0 is the mean of the image over REGION; records batch sizes."""

    def __init__(self):
        self.batches: list[int] = []

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.batches.append(images.shape[0])
        p = (images * REGION).flatten(1).sum(1) / REGION.sum()
        return torch.stack([p, 1 - p], dim=1)


def ones(batch: int = 1) -> torch.Tensor:
    return torch.ones(batch, 1, SIZE, SIZE)


def test_deletion_auc_by_hand():
    # 4 steps of 16 pixels: removing the region first drops p to 0 at once -> 0.25 * (1 + 0) / 2
    good, bad = REGION.double(), 1 - REGION.double()
    maps = torch.cat([good, bad])
    values = deletion_auc(RegionMass(), ones(2), maps, torch.tensor([0, 0]), n_steps=4)
    # the bad map keeps p = 1 for 3 steps: 0.75 + 0.25 * (1 + 0) / 2
    np.testing.assert_allclose(values, [0.125, 0.875])
    np.testing.assert_allclose(
        deletion_auc(RegionMass(), ones(2), maps, torch.tensor([1, 1]), n_steps=4), [0.875, 0.125]
    )


def test_deletion_curve_points_and_fractions():
    curve = deletion_curve(RegionMass(), ones(), REGION.double(), torch.tensor([0]), n_steps=4)
    np.testing.assert_allclose(curve.fractions, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve.probabilities, [[1, 0, 0, 0, 0]])
    assert curve.mean == pytest.approx([0.2])


def test_insertion_auc_by_hand():
    zeros = torch.zeros(1, 1, SIZE, SIZE)
    values = insertion_auc(RegionMass(), ones(), REGION.double(), torch.tensor([0]), n_steps=4, baseline=zeros)
    np.testing.assert_allclose(values, [0.875])  # 0, 1, 1, 1, 1


def test_insertion_starts_from_the_rise_blur():
    curve = insertion_curve(RegionMass(), ones(), REGION.double(), torch.tensor([0]), n_steps=4)
    start = (rise_blur(ones()) * REGION).sum() / REGION.sum()
    assert curve.probabilities[0, 0] == pytest.approx(start.item())
    assert curve.probabilities[0, 1] == pytest.approx(1.0)


def test_rise_blur_is_the_reference_kernel_with_zero_padding():
    image = torch.rand(1, 2, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    impulse = np.zeros((11, 11))
    impulse[5, 5] = 1
    kernel = gaussian_filter(impulse, 5)
    padded = np.pad(image[0, 1].numpy(), 5)
    expected = sum(kernel[i, j] * padded[i : i + 16, j : j + 16] for i in range(11) for j in range(11))
    np.testing.assert_allclose(rise_blur(image)[0, 1].numpy(), expected, rtol=1e-12)


def test_work_is_batched_and_independent_of_batch_size():
    maps = torch.rand(5, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    images = torch.rand(5, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    targets = torch.tensor([0, 1, 0, 1, 0])
    small, large = RegionMass(), RegionMass()
    a = deletion_auc(small, images, maps, targets, n_steps=4, batch_size=3)
    b = deletion_auc(large, images, maps, targets, n_steps=4, batch_size=64)
    np.testing.assert_allclose(a, b)
    assert max(small.batches) <= 3 and sum(small.batches) == 5 * 5
    assert large.batches == [25]


def test_ties_are_broken_at_random_with_a_seeded_generator():
    constant = torch.zeros(2, 1, SIZE, SIZE)

    def tied(seed: int) -> np.ndarray:
        generator = torch.Generator().manual_seed(seed)
        return deletion_auc(RegionMass(), ones(2), constant, torch.tensor([0, 0]), generator=generator)

    first = tied(3)
    np.testing.assert_array_equal(first, tied(3))
    raster = -torch.arange(SIZE * SIZE, dtype=torch.float64).view(1, 1, SIZE, SIZE)  # raster order, no ties
    in_raster_order = deletion_auc(RegionMass(), ones(), raster, torch.tensor([0]))
    assert first[0] != pytest.approx(in_raster_order[0])
    assert first[0] == first[1]  # one permutation for every image: a score does not depend on its position
    assert tied(4)[0] != first[0]
    assert 0.3 < first.mean() < 0.7  # random order: about 1/2


def test_imputation_of_a_pixel_inside_a_constant_surround_is_the_constant():
    image = torch.full((1, 3, 5, 5), 0.7)
    removed = torch.zeros(1, 5, 5, dtype=torch.bool)
    removed[0, 2, 2] = True
    out = noisy_linear_imputation(image, removed, noise=0.0)
    torch.testing.assert_close(out, image)


def test_imputation_reconstructs_a_linear_gradient_inside_a_removed_square():
    ys, xs = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
    image = torch.stack([2 * ys + 3 * xs + 1, -ys + 0.5 * xs]).double()[None]
    removed = torch.zeros(1, 12, 12, dtype=torch.bool)
    removed[0, 3:9, 4:9] = True
    damaged = image.clone()
    damaged[:, :, removed[0]] = 100.0  # the removed values must not leak into the result
    torch.testing.assert_close(noisy_linear_imputation(damaged, removed, noise=0.0), image)


def test_imputation_matches_quantus_reference_port():
    rng = np.random.default_rng(0)
    image = rng.random((2, 9, 7))
    flat = rng.choice(63, size=25, replace=False)  # includes border pixels
    removed = torch.zeros(1, 63, dtype=torch.bool)
    removed[0, flat] = True
    ours = noisy_linear_imputation(torch.from_numpy(image)[None], removed.view(1, 9, 7), noise=0.0)
    np.testing.assert_allclose(ours[0].numpy(), quantus_imputation(image, flat, noise=0.0), rtol=1e-10, atol=1e-12)


def test_imputation_noise_is_seeded_and_only_on_removed_pixels():
    image = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    removed = torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(1)) < 0.5
    a = noisy_linear_imputation(image, removed, noise=0.1, generator=torch.Generator().manual_seed(4))
    b = noisy_linear_imputation(image, removed, noise=0.1, generator=torch.Generator().manual_seed(4))
    plain = noisy_linear_imputation(image, removed, noise=0.0)
    torch.testing.assert_close(a, b)
    assert torch.equal(a[:, 0][~removed], image[:, 0][~removed])
    assert 0.05 < (a - plain)[:, 0][removed].std() < 0.15
    with pytest.raises(ConfigError, match="at least one kept pixel"):
        noisy_linear_imputation(image, torch.ones(2, 6, 6, dtype=torch.bool))


def test_road_most_relevant_first_drops_faster_than_least_relevant_first():
    images = REGION.double().expand(2, 1, SIZE, SIZE).clone()  # bright region on black
    maps = images + 0.01 * torch.rand(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([0, 0])
    model = RegionMass()
    morf = road(model, images, maps, targets, order="morf", percentages=(0.1, 0.25, 0.5), batch_size=4)
    lerf = road(model, images, maps, targets, order="lerf", percentages=(0.1, 0.25, 0.5), batch_size=4)
    assert morf.probabilities.shape == (2, 3) and np.allclose(morf.fractions, [0.1, 0.25, 0.5])
    assert (morf.mean < 0.5).all() and (lerf.mean > 0.9).all()
    assert max(model.batches) <= 4
    # removing 25 % most relevant (= the whole region) leaves only imputation from black: about 0
    assert morf.probabilities[:, 1] == pytest.approx([0, 0], abs=0.05)


def test_road_is_reproducible_and_validates_its_options():
    images = torch.rand(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    maps = torch.rand(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    a = road(RegionMass(), images, maps, torch.tensor([0]), generator=torch.Generator().manual_seed(5))
    b = road(RegionMass(), images, maps, torch.tensor([0]), generator=torch.Generator().manual_seed(5))
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    assert a.probabilities.shape == (1, 9)
    with pytest.raises(ConfigError, match=r"percentages must be fractions in \(0, 1\)"):
        road(RegionMass(), images, maps, torch.tensor([0]), percentages=[0.5, 1.0])
    with pytest.raises(ConfigError, match="unknown ROAD order 'random'"):
        road(RegionMass(), images, maps, torch.tensor([0]), order="random")


def test_inputs_are_validated():
    with pytest.raises(ConfigError, match=r"maps shape \[1, 1, 4, 4\] does not match images shape \[1, 1, 8, 8\]"):
        deletion_auc(RegionMass(), ones(), torch.zeros(1, 1, 4, 4), torch.tensor([0]))
    with pytest.raises(ConfigError, match=r"targets must have shape \[1\]"):
        deletion_auc(RegionMass(), ones(), REGION.double(), torch.tensor([0, 1]))
    with pytest.raises(ConfigError, match=r"targets must lie in \[0, 1\]"):
        deletion_auc(RegionMass(), ones(), REGION.double(), torch.tensor([2]))
    with pytest.raises(ConfigError, match="predict must return probabilities"):
        deletion_auc(lambda x: x.sum(), ones(), REGION.double(), torch.tensor([0]))
    with pytest.raises(ConfigError, match="baseline shape"):
        deletion_auc(RegionMass(), ones(), REGION.double(), torch.tensor([0]), baseline=torch.zeros(3, 8, 8))


def test_imputation_split_into_several_factorisations_gives_the_same_result(monkeypatch):
    image = torch.rand(4, 2, 6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    removed = torch.rand(4, 6, 6, generator=torch.Generator().manual_seed(1)) < 0.6
    together = noisy_linear_imputation(image, removed, noise=0.0)
    monkeypatch.setattr(imputation, "MAX_UNKNOWNS", 25)
    assert len(imputation._groups(removed.flatten(1).sum(1).numpy())) >= 3
    torch.testing.assert_close(noisy_linear_imputation(image, removed, noise=0.0), together)
