"""Repeatability groups the runs that differ in nothing but the training seed."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from medattn.config import DataSpec, ModelSpec, RunConfig, TrainSpec
from medattn.explain.quality import _repeatability, seedless_key
from medattn.explain.scores.repeatability import similarity

BASE = RunConfig(DataSpec(), ModelSpec("resnet18", "se", image_size=32), TrainSpec(epochs=1, seed=0))


def run(name: str, config: RunConfig) -> SimpleNamespace:
    return SimpleNamespace(name=name, config=config)


def seeded(config: RunConfig, seed: int) -> RunConfig:
    return replace(config, train=replace(config.train, seed=seed))


@pytest.mark.parametrize(
    "other",
    [
        replace(BASE, data=replace(BASE.data, regime=0.5)),
        replace(BASE, data=replace(BASE.data, test_fraction=0.2)),
        replace(BASE, data=replace(BASE.data, path="elsewhere")),
        replace(BASE, train=replace(BASE.train, lr=0.1)),
        replace(BASE, model=replace(BASE.model, attention="cbam")),
    ],
    ids=["data regime", "split", "data source", "training", "model"],
)
def test_only_the_seed_may_differ_between_repeats(other):
    assert seedless_key(seeded(BASE, 3)) == seedless_key(BASE)
    assert seedless_key(seeded(other, 3)) != seedless_key(BASE)


def test_runs_that_differ_in_the_data_regime_are_not_repeats_of_each_other():
    runs = [
        run("full, seed 0", BASE),
        run("full, seed 1", seeded(BASE, 1)),
        run("half, seed 1", seeded(replace(BASE, data=replace(BASE.data, regime=0.5)), 1)),
    ]
    generator = np.random.default_rng(0)
    maps = {(r.name, "gradcam"): generator.random((2, 16, 16)).astype(np.float32) for r in runs}
    values = _repeatability(runs, maps, ["gradcam"])
    assert set(values) == {("full, seed 0", "gradcam"), ("full, seed 1", "gradcam")}
    for measure in ("ssim", "spearman"):
        expected = similarity(torch.as_tensor(maps["full, seed 0", "gradcam"][:, None]),
                              maps["full, seed 1", "gradcam"][:, None], measure)  # fmt: skip
        np.testing.assert_allclose(values["full, seed 0", "gradcam"][measure], expected)
