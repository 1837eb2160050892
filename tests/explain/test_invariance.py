"""Maps and scores are a function of (model, image, target, method, options, seed) only.

One image alone, the same image inside a batch of 4 (at positions 0 and 3, next to images of very
different value range) and the same batch in chunks of one image (a tiny ``memory_limit``) give the
same map to 1e-6 (relative to the map's largest value), for every method and baseline; the
deterministic ones are the control. The models run in float64 (``explain`` computes in the model's
dtype) so that 1e-6 measures the method and not float32 rounding: in float32 the same Grad-CAM map
alone and batched already differs by about 1e-5 because the convolution kernels depend on the batch size.
"""

import numpy as np
import pytest
import torch

from medattn.config import ModelSpec
from medattn.errors import ConfigError
from medattn.explain import quality
from medattn.explain.api import explain
from medattn.explain.baselines import Normalisation, make_baseline
from medattn.explain.methods import METHODS
from medattn.explain.scores import faithfulness
from medattn.explain.scores.faithfulness import deletion_auc, insertion_auc, road
from medattn.explain.scores.imputation import ROAD_NOISE, noise_in_input_units
from medattn.explain.scores.robustness import max_sensitivity
from medattn.explain.targets import TargetModel
from medattn.models import create_model

SIZE, TARGET, TOLERANCE = 32, 1, 1e-6
CNN_CASES = [
    ("saliency", None, {}),
    ("smoothgrad", None, {"n_samples": 5}),
    ("integrated-gradients", "uniform", {"n_steps": 4}),
    ("integrated-gradients", "black", {"n_steps": 4}),
    ("integrated-gradients", "blurred", {"n_steps": 4}),
    ("integrated-gradients", "mean", {"n_steps": 4}),
    ("deeplift", "uniform", {}),
    ("deeplift", "black", {}),
    ("occlusion", "uniform", {"window": 8, "stride": 8}),
    ("occlusion", "blurred", {"window": 8, "stride": 8}),
    ("lrp", None, {}),
    ("gradcam", None, {}),
    ("guided-gradcam", None, {}),
    ("attention", None, {}),
]


def batches() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The image alone, then in a batch at position 0 and at position 3 beside images of other ranges."""
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, 3, SIZE, SIZE, generator=generator, dtype=torch.float64)
    others = torch.randn(3, 3, SIZE, SIZE, generator=generator, dtype=torch.float64)
    others = others * torch.tensor([10.0, 0.1, 4.0], dtype=torch.float64).view(3, 1, 1, 1) + 2.0
    return image, torch.cat([image, others]), torch.cat([others, image])


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def seeded_model(spec: ModelSpec) -> torch.nn.Module:
    """The model with weights drawn from seed 0 (the global random state is left as it was)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return create_model(spec, load_weights=False).eval().double()


@pytest.fixture(scope="module")
def cnn():
    return seeded_model(ModelSpec(backbone="resnet18", attention="cbam", num_classes=3, image_size=SIZE))


@pytest.fixture(scope="module")
def vit():
    return seeded_model(ModelSpec(backbone="deit_tiny", num_classes=3, image_size=SIZE))


def assert_invariant(model, method: str, baseline: str | None, options: dict) -> None:
    image, first, last = batches()
    alone = explain(model, image, TARGET, method, baseline=baseline, seed=3, **options).maps[0]
    assert alone.abs().max() > 0
    variants = {
        "position 0": explain(model, first, TARGET, method, baseline=baseline, seed=3, **options).maps[0],
        "position 3": explain(model, last, TARGET, method, baseline=baseline, seed=3, **options).maps[3],
        "position 3, chunks of 1": explain(
            model, last, TARGET, method, baseline=baseline, seed=3, memory_limit=1, **options
        ).maps[3],
    }
    differences = {name: relative_difference(maps, alone) for name, maps in variants.items()}
    assert max(differences.values()) < TOLERANCE, differences


@pytest.mark.parametrize(("method", "baseline", "options"), CNN_CASES, ids=[f"{m}-{b}" for m, b, _ in CNN_CASES])
def test_map_does_not_depend_on_batch_position_companions_or_chunks(cnn, method, baseline, options):
    assert_invariant(cnn, method, baseline, options)


def test_rollout_does_not_depend_on_batch_position_companions_or_chunks(vit):
    assert_invariant(vit, "rollout", None, {})


def test_every_method_is_covered():
    assert {m for m, _, _ in CNN_CASES} | {"rollout"} == set(METHODS)


def test_uniform_baseline_is_one_draw_per_image_shape():
    images = torch.randn(4, 3, 8, 8)
    batch = make_baseline("uniform", images, seed=5)
    for i in range(4):
        torch.testing.assert_close(batch[i : i + 1], make_baseline("uniform", images[i : i + 1], seed=5))
    assert not torch.equal(batch, make_baseline("uniform", images, seed=6))
    pixels = Normalisation().denormalise(batch)
    assert 0.4 < pixels.mean() < 0.6 and pixels.std() > 0.2  # uniform in [0, 1] before normalisation


class Quadratic(torch.nn.Module):
    """Logit k = sum(x^2) * (k + 1): the gradient 2 x (k + 1) changes with the noise."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

    def forward(self, x):
        return self.scale * (x**2).flatten(1).sum(1, keepdim=True) * torch.arange(1.0, 4.0, dtype=x.dtype)


def test_smoothgrad_noise_scale_is_each_images_own_range():
    # Smilkov et al. 2017: sigma = noise * (max - min) of the image; the standard-normal draws come
    # from a CPU generator seeded with `seed`, the same draws for every image.
    _, first, _ = batches()
    model = TargetModel(Quadratic(), "softmax")
    maps = explain(model, first, TARGET, "smoothgrad", seed=2, n_samples=6, noise=0.2).maps
    draws = torch.randn((6, 3, SIZE, SIZE), generator=torch.Generator().manual_seed(2)).double()
    for i, x in enumerate(first):
        sigma = 0.2 * (x.max() - x.min())
        gradients = (2 * (TARGET + 1) * (x + sigma * draws)).abs().mean(0)
        torch.testing.assert_close(maps[i, 0], gradients.amax(0).float())


class TinyClassifier(torch.nn.Module):
    """A small float64 CNN whose predict() returns softmax probabilities (stands in for TargetModel.predict)."""

    def __init__(self):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(0)
            self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU())
            self.fc = torch.nn.Linear(4, 2)
        self.double()

    def predict(self, images):
        return self.fc(self.features(images).mean((2, 3))).softmax(1)


def score_variants(score, batch_sizes=(64, 1)) -> dict[str, float]:
    """Score of the image alone, at position 0 and at position 3, with several batch sizes; returns differences."""
    image, first, last = batches()
    maps = torch.randn(4, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    maps = maps.round()  # many ties: tie-breaking must not depend on the position either
    alone = score(image, maps[:1], batch_sizes[0])[0]
    differences = {}
    for size in batch_sizes:
        differences[f"position 0, batch {size}"] = abs(score(first, maps, size)[0] - alone) / abs(alone)
        differences[f"position 3, batch {size}"] = abs(score(last, maps.roll(-1, 0), size)[3] - alone) / abs(alone)
    return differences


def test_road_does_not_depend_on_batch_position_companions_or_batch_size():
    model = TinyClassifier()

    def score(images, maps, batch_size):
        generator = torch.Generator().manual_seed(4)
        targets = torch.zeros(len(images), dtype=torch.long)
        return road(model.predict, images, maps, targets, generator=generator, batch_size=batch_size).mean

    differences = score_variants(score, batch_sizes=(64, 9, 3))
    assert max(differences.values()) < TOLERANCE, differences


@pytest.mark.parametrize("auc", [deletion_auc, insertion_auc], ids=["deletion", "insertion"])
def test_deletion_tie_breaking_does_not_depend_on_batch_position(auc):
    model = TinyClassifier()

    def score(images, maps, batch_size):
        targets = torch.zeros(len(images), dtype=torch.long)
        return auc(model.predict, images, maps, targets, generator=torch.Generator().manual_seed(4),
                   n_steps=8, batch_size=batch_size)  # fmt: skip

    differences = score_variants(score)
    assert max(differences.values()) < TOLERANCE, differences


def test_max_sensitivity_of_smoothgrad_does_not_depend_on_batch_position_or_batch_size(cnn):
    def score(images, maps, batch_size):
        def explainer(x, t):
            limit = None if batch_size == 64 else 1  # chunks of one image
            return explain(cnn, x, t, "smoothgrad", seed=1, n_samples=2, memory_limit=limit).maps

        generator = torch.Generator().manual_seed(8)
        targets = torch.full((len(images),), TARGET)
        return max_sensitivity(explainer, images, targets, n_samples=3, generator=generator, batch_size=batch_size)

    differences = score_variants(score, batch_sizes=(64, 2))
    assert max(differences.values()) < TOLERANCE, differences


class Recording:
    """predict() that keeps every batch it is given."""

    def __init__(self):
        self.batches: list[torch.Tensor] = []

    def predict(self, images):
        self.batches.append(images.clone())
        return torch.full((len(images), 2), 0.5, dtype=images.dtype)


def test_road_noise_of_the_quality_scores_is_road_noise_in_pixel_units(monkeypatch):
    # A grey image is imputed exactly (the linear imputation of a constant is the constant), so what
    # ROAD feeds the model differs from the image by the noise alone; in pixel units its std is ROAD_NOISE.
    norm = Normalisation()
    images = norm.normalise(torch.full((2, 3, SIZE, SIZE), 0.4, dtype=torch.float64))
    maps = torch.rand(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    recording, real_road = Recording(), faithfulness.road

    def recorded_road(predict, *args, **kwargs):
        return real_road(recording.predict, *args, **kwargs)

    monkeypatch.setattr(faithfulness, "road", recorded_road)
    quality._faithfulness(Recording(), images, maps, torch.tensor([0, 1]), batch_size=64, seed=0)
    seen = torch.cat(recording.batches)
    pixels = norm.denormalise(seen) - 0.4  # the noise in pixel units (no clipping at 0.4 +- a few 0.01)
    changed = pixels.abs() > 1e-9  # kept pixels differ by rounding only
    assert changed.any(1).float().mean() > 0.4  # ROAD removed about half the pixels over its levels
    for channel in range(3):
        noise = pixels[:, channel][changed[:, channel]]
        assert noise.std().item() == pytest.approx(ROAD_NOISE, rel=0.05)


def test_noise_in_input_units_divides_by_each_channels_std_and_refuses_bad_values():
    np.testing.assert_allclose(noise_in_input_units(0.01, (0.5, 0.25, 0.1), 3), [0.02, 0.04, 0.1])
    np.testing.assert_allclose(noise_in_input_units(0.01, None, 2), [0.01, 0.01])
    with pytest.raises(ConfigError, match=r"one value or one per channel \(3\)"):
        noise_in_input_units(0.01, (0.5, 0.25), 3)
    with pytest.raises(ConfigError, match="pixel_std must be positive"):
        noise_in_input_units(0.01, 0.0, 3)
    with pytest.raises(ConfigError, match="noise must be a non-negative number"):
        road(TinyClassifier().predict, *batches()[:1], torch.ones(1, 1, SIZE, SIZE), torch.tensor([0]), noise=-1.0)
