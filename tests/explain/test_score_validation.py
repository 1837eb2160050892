"""The scores measure something: a model trained on the synthetic lesions points at them, a random one does not."""

import numpy as np
import pytest
import torch
from torch import nn

from medattn.data.synthetic import make_lesion_dataset
from medattn.explain.api import explain
from medattn.explain.scores import localisation, sanity
from medattn.explain.targets import TargetModel


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 2),
    )  # fmt: skip


@pytest.fixture(scope="module")
def trained_and_random():
    torch.manual_seed(0)
    train = make_lesion_dataset(600, 32, seed=0, difficulty=0.2)
    test = make_lesion_dataset(100, 32, seed=1, difficulty=0.2, split="test")
    x, y = (train.images - 0.5) / 0.25, train.labels
    model = small_cnn()
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(15):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 32):
            batch = order[start : start + 32]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    lesion = test.labels == 1
    images, masks = (test.images[lesion] - 0.5) / 0.25, test.masks[lesion].bool()
    return TargetModel(model.eval(), "softmax"), TargetModel(small_cnn().eval(), "softmax"), images, masks


def _scores(model, images, masks):
    maps = explain(model, images, 1, "saliency").maps
    tolerance = localisation.POINTING_TOLERANCE_PX * 32 / 224
    return (
        np.nanmean(localisation.pointing_game(maps, masks, tolerance=tolerance)),
        np.nanmean(localisation.energy_pointing_game(maps, masks)),
    )


def test_trained_model_scores_a_clearly_better_pointing_game_than_a_random_one(trained_and_random):
    trained, random, images, masks = trained_and_random
    trained_pg, trained_energy = _scores(trained, images, masks)
    random_pg, random_energy = _scores(random, images, masks)
    # Measured: pointing game 0.80 vs 0.27, energy pointing game 0.34 vs 0.03.
    assert trained_pg > random_pg + 0.3
    assert trained_energy > 3 * random_energy


def test_randomisation_check_passes_saliency_of_the_trained_model(trained_and_random):
    trained, _, images, _ = trained_and_random

    def saliency(model, x, targets):
        return explain(model, x, targets, "saliency").maps

    result = sanity.randomisation_check(trained, saliency, images[:8], torch.ones(8, dtype=torch.long))
    assert result.passed, result.statistic
