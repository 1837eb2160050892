import math

import numpy as np
import pytest
import quantus
import torch

from medattn.errors import ConfigError
from medattn.explain.scores.localisation import (
    bounding_boxes,
    energy_pointing_game,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
)


def grid(values) -> torch.Tensor:
    """A [1, 1, H, W] batch from a nested list."""
    return torch.tensor(values, dtype=torch.float64)[None, None]


# 4 x 4 map; the mask is the top-left 2 x 2 block.
MASK = grid([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]).bool()
MAP = grid([[4, 3, 0, 2], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]])


def test_relevance_mass_accuracy_by_hand():
    # inside: 4 + 3 = 7 of a total 4 + 3 + 2 + 1 = 10
    assert relevance_mass_accuracy(MAP, MASK) == pytest.approx([0.7])
    three_quarters = grid([[1, 1, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]])
    assert relevance_mass_accuracy(three_quarters, MASK) == pytest.approx([0.75])


def test_relevance_mass_accuracy_signed_maps():
    signed = MAP.clone()
    signed[0, 0, 0, 0] = -4  # strong negative evidence inside the mask
    assert relevance_mass_accuracy(signed, MASK, relevance="absolute") == pytest.approx([0.7])
    assert relevance_mass_accuracy(signed, MASK, relevance="positive") == pytest.approx([3 / 6])
    with pytest.raises(ConfigError, match="unknown relevance 'signed'; choose one of: absolute, positive"):
        relevance_mass_accuracy(signed, MASK, relevance="signed")


def test_relevance_rank_accuracy_by_hand():
    # K = 4; the four highest values 4, 3, 2, 1 put 2 inside the mask
    assert relevance_rank_accuracy(MAP, MASK) == pytest.approx([0.5])


def test_relevance_rank_accuracy_counts_ties_by_expectation():
    tied = grid([[4, 0, 0, 2], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    # 4 (inside) and 2 (outside), then 2 of the 14 tied zeros, 3 of which lie inside: (1 + 2 * 3 / 14) / 4
    assert relevance_rank_accuracy(tied, MASK) == pytest.approx([5 / 14])


def test_uninformative_maps_score_chance_and_empty_masks_are_nan():
    zeros = torch.zeros(2, 1, 4, 4)
    masks = torch.cat([MASK, torch.zeros_like(MASK)])
    for score in (relevance_mass_accuracy, relevance_rank_accuracy, energy_pointing_game):
        values = score(zeros, masks)
        assert values.shape == (2,) and values.dtype == np.float64
        assert values[0] == pytest.approx(4 / 16) and math.isnan(values[1])
    # a map with only negative values has no positive energy: uniform as well
    assert energy_pointing_game(-MAP - 1, MASK) == pytest.approx([0.25])


def test_energy_pointing_game_counts_positive_energy_only():
    signed = MAP.clone()
    signed[0, 0, 3, 3] = -100.0
    assert energy_pointing_game(signed, MASK) == pytest.approx([0.7])


def test_energy_pointing_game_with_bounding_box():
    mask = grid([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]).bool()  # box = top-left 2 x 2
    values = grid([[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]])
    assert energy_pointing_game(values, mask) == pytest.approx([0.0])
    assert energy_pointing_game(values, mask, bounding_box=True) == pytest.approx([0.5])
    assert torch.equal(bounding_boxes(mask), MASK)
    assert not bounding_boxes(torch.zeros_like(mask)).any()


def point_map(y: int, x: int, size: int = 32) -> torch.Tensor:
    values = torch.zeros(1, 1, size, size)
    values[0, 0, y, x] = 1.0
    return values


def test_pointing_game_tolerance_is_inclusive_at_15_px():
    mask = torch.zeros(1, 1, 32, 32, dtype=torch.bool)
    mask[0, 0, 0, 0] = True
    assert pointing_game(point_map(15, 0), mask) == pytest.approx([1.0])  # distance 15
    assert pointing_game(point_map(12, 9), mask) == pytest.approx([1.0])  # sqrt(144 + 81) = 15
    assert pointing_game(point_map(15, 1), mask) == pytest.approx([0.0])  # sqrt(226) > 15
    assert pointing_game(point_map(16, 0), mask) == pytest.approx([0.0])
    assert pointing_game(point_map(1, 0), mask, tolerance=0) == pytest.approx([0.0])
    assert pointing_game(point_map(0, 0), mask, tolerance=0) == pytest.approx([1.0])
    with pytest.raises(ConfigError, match="tolerance"):
        pointing_game(point_map(0, 0), mask, tolerance=-1)


def test_pointing_game_ties_and_degenerate_inputs():
    mask = torch.zeros(1, 1, 32, 32, dtype=torch.bool)
    mask[0, 0, :4, :4] = True
    two_peaks = point_map(0, 0) + point_map(31, 31)
    assert pointing_game(two_peaks, mask) == pytest.approx([0.5])
    # all-zero map: share of pixels within 15 px of the 4 x 4 block
    near = (
        torch.cdist(
            torch.cartesian_prod(torch.arange(32.0), torch.arange(32.0)),
            torch.cartesian_prod(torch.arange(4.0), torch.arange(4.0)),
        ).amin(1)
        <= 15
    )
    assert pointing_game(torch.zeros(1, 1, 32, 32), mask) == pytest.approx([near.double().mean().item()])
    assert math.isnan(pointing_game(two_peaks, torch.zeros_like(mask))[0])


def test_inputs_are_validated_with_one_line_messages():
    with pytest.raises(ConfigError, match=r"masks shape \[1, 1, 4, 5\] does not match maps shape \[1, 1, 4, 4\]"):
        relevance_mass_accuracy(MAP, torch.zeros(1, 1, 4, 5, dtype=torch.bool))
    with pytest.raises(ConfigError, match=r"maps must have shape \[B, 1, H, W\], got \[1, 3, 4, 4\]"):
        pointing_game(MAP.expand(1, 3, 4, 4), MASK)
    with pytest.raises(ConfigError, match="boolean"):
        relevance_rank_accuracy(MAP, MASK.double() * 2)
    with pytest.raises(ConfigError, match="NaN"):
        relevance_rank_accuracy(MAP * float("nan"), MASK)


def test_numpy_inputs_give_the_same_values():
    assert relevance_mass_accuracy(MAP.numpy(), MASK.numpy()) == pytest.approx(relevance_mass_accuracy(MAP, MASK))


@pytest.fixture
def random_batch():
    rng = np.random.default_rng(0)
    maps = rng.random((6, 1, 16, 16))  # continuous, non-negative: no ties, signs agree
    masks = np.zeros((6, 1, 16, 16), dtype=bool)
    for i, (y, x, h, w) in enumerate(rng.integers([0, 0, 2, 2], [10, 10, 7, 7], size=(6, 4))):
        masks[i, 0, y : y + h, x : x + w] = True
    maps += 0.5 * masks  # some localisation signal
    x_batch = rng.random((6, 1, 16, 16)).astype(np.float32)
    return maps, masks, x_batch


QUANTUS_OPTIONS = dict(abs=False, normalise=False, disable_warnings=True)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (relevance_mass_accuracy, quantus.RelevanceMassAccuracy),
        (relevance_rank_accuracy, quantus.RelevanceRankAccuracy),
        (lambda a, s: pointing_game(a, s, tolerance=0), quantus.PointingGame),
    ],
)
def test_matches_quantus_on_non_negative_maps_without_ties(random_batch, ours, theirs):
    maps, masks, x_batch = random_batch
    expected = theirs(**QUANTUS_OPTIONS)(
        model=None, x_batch=x_batch, y_batch=np.zeros(6, dtype=int), a_batch=maps, s_batch=masks, channel_first=True
    )
    np.testing.assert_allclose(ours(maps, masks), np.asarray(expected, dtype=np.float64), rtol=1e-10)
