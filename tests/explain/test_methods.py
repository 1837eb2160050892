"""explain(): hand-computed maps on toy models, targets for every head, determinism, hooks, chunking."""

import contextlib

import pytest
import torch
from torch import nn

from medattn.config import ModelSpec
from medattn.errors import ConfigError
from medattn.explain.api import explain
from medattn.explain.baselines import Normalisation, make_baseline
from medattn.explain.methods import METHODS
from medattn.explain.targets import TargetModel
from medattn.models import create_model


class Linear(nn.Module):
    """f(x) = W flatten(x) + b: every gradient is a row of W."""

    def __init__(self, outputs: int = 2, size: int = 4):
        super().__init__()
        self.fc = nn.Linear(3 * size * size, outputs)

    def forward(self, x):
        return self.fc(x.flatten(1))


class ConvGap(nn.Module):
    """A = conv1x1(x); y = W GAP(A) + b, so Grad-CAM is relu(sum_c W[t, c] / hw * A_c) by hand."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(3, 2, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 3)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def all_hooks(model: nn.Module) -> int:
    names = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return sum(len(getattr(m, n)) for m in model.modules() for n in names)


def test_saliency_is_the_input_gradient_by_hand():
    model = Linear()
    x = torch.randn(2, 3, 4, 4)
    maps = explain(TargetModel(model, "softmax"), x, [1, 0], "saliency").maps
    w = model.fc.weight.detach().reshape(2, 3, 4, 4)
    expected = torch.stack([w[1].abs().amax(0), w[0].abs().amax(0)]).unsqueeze(1)
    torch.testing.assert_close(maps, expected)


def test_gradcam_matches_the_hand_computed_map():
    model = ConvGap()
    x = torch.randn(2, 3, 5, 5)
    maps = explain(TargetModel(model, "softmax"), x, 2, "gradcam", layer="features").maps
    v, b = model.features.weight.detach().reshape(2, 3), model.features.bias.detach()
    a = torch.einsum("ck,bkhw->bchw", v, x) + b.view(1, 2, 1, 1)
    weights = model.fc.weight.detach()[2] / 25
    expected = torch.relu((weights.view(1, 2, 1, 1) * a).sum(1, keepdim=True))
    torch.testing.assert_close(maps, expected)


def test_sigmoid_head_negative_class_is_the_negated_logit():
    model = Linear(outputs=1)
    x = torch.randn(3, 3, 4, 4)
    wrapped = TargetModel(model, "sigmoid")
    positive = explain(wrapped, x, 1, "integrated-gradients").maps
    negative = explain(wrapped, x, 0, "integrated-gradients").maps
    torch.testing.assert_close(negative, -positive)
    # IG of a linear model is (x - baseline) * w: the completeness the method promises.
    baseline = make_baseline("black", x)
    expected = ((x - baseline) * model.fc.weight.detach().reshape(1, 3, 4, 4)).sum(1, keepdim=True)
    torch.testing.assert_close(positive, expected, atol=1e-5, rtol=1e-4)


def test_multilabel_all_targets_gives_one_map_per_finding_for_the_whole_batch():
    model = Linear(outputs=3)
    x = torch.randn(4, 3, 4, 4)
    wrapped = TargetModel(model, "multilabel")
    result = explain(wrapped, x, "all", "saliency")
    assert result.maps.shape == (4, 3, 4, 4)
    for k in range(3):
        torch.testing.assert_close(result.maps[:, k : k + 1], explain(wrapped, x, k, "saliency").maps)
    with pytest.raises(ConfigError, match="multilabel"):
        explain(TargetModel(model, "softmax"), x, "all", "saliency")


def test_targets_predicted_and_label():
    model = Linear(outputs=3)
    x = torch.randn(4, 3, 4, 4)
    predicted = model(x).argmax(1)
    assert explain(TargetModel(model, "softmax"), x).targets.tolist() == predicted.tolist()
    labels = torch.tensor([0, 1, 2, 0])
    result = explain(TargetModel(model, "softmax"), x, "label", labels=labels)
    assert result.targets.tolist() == labels.tolist() and result.target_rule == "label"
    with pytest.raises(ConfigError, match="0..2"):
        explain(TargetModel(model, "softmax"), x, 5)


@pytest.fixture(scope="module")
def cbam_model():
    return create_model(ModelSpec(backbone="resnet18", attention="cbam", num_classes=2, image_size=32)).eval()


def test_same_seed_same_map_and_the_seed_matters(cbam_model):
    x = torch.randn(2, 3, 32, 32)
    first = explain(cbam_model, x, 1, "smoothgrad", seed=3, n_samples=3)
    again = explain(cbam_model, x, 1, "smoothgrad", seed=3, n_samples=3)
    other = explain(cbam_model, x, 1, "smoothgrad", seed=4, n_samples=3)
    torch.testing.assert_close(first.maps, again.maps, rtol=0, atol=0)
    assert not torch.allclose(first.maps, other.maps)
    assert first.metadata()["seed"] == 3 and first.metadata()["model_mode"] == "eval"


def test_mode_is_recorded_and_restored(cbam_model):
    cbam_model.train()
    try:
        result = explain(cbam_model, torch.randn(2, 3, 32, 32), 0, "saliency")
        assert result.model_mode == "eval" and cbam_model.training
    finally:
        cbam_model.eval()


def test_baseline_is_stored_and_defined_in_pixel_space():
    x = torch.randn(2, 3, 8, 8)
    norm = Normalisation()
    torch.testing.assert_close(norm.denormalise(make_baseline("black", x)), torch.zeros_like(x))
    torch.testing.assert_close(make_baseline("uniform", x, seed=1), make_baseline("uniform", x, seed=1))
    constant = norm.normalise(torch.full_like(x, 0.3))
    torch.testing.assert_close(make_baseline("blurred", constant), constant)
    torch.testing.assert_close(norm.denormalise(make_baseline("mean", x))[0, :, 0, 0], torch.tensor(norm.mean))
    result = explain(TargetModel(Linear(), "softmax"), torch.randn(2, 3, 4, 4), 0, "occlusion", baseline="blurred")
    assert result.options["baseline"] == "blurred"
    with pytest.raises(ConfigError, match="unknown baseline 'grey'"):
        explain(TargetModel(Linear(), "softmax"), torch.randn(2, 3, 4, 4), 0, "deeplift", baseline="grey")


def test_bad_method_and_option_are_refused_in_one_line():
    wrapped = TargetModel(Linear(), "softmax")
    with pytest.raises(ConfigError, match="unknown method 'gradcamm'; choose one of: saliency"):
        explain(wrapped, torch.randn(1, 3, 4, 4), 0, "gradcamm")
    with pytest.raises(ConfigError, match="no option 'steps'; its options: n_steps, integration"):
        explain(wrapped, torch.randn(1, 3, 4, 4), 0, "integrated-gradients", steps=3)
    with pytest.raises(ConfigError, match="takes no baseline"):
        explain(wrapped, torch.randn(1, 3, 4, 4), 0, "saliency", baseline="black")


@pytest.mark.parametrize("method", list(METHODS))
def test_hooks_are_removed_after_success_and_after_an_exception(cbam_model, method):
    x = torch.randn(2, 3, 32, 32)
    options = {"integrated-gradients": {"n_steps": 2}, "smoothgrad": {"n_samples": 2}}.get(method, {})
    before = cbam_model(x).detach()
    with contextlib.suppress(ConfigError):  # refused (rollout on a CNN): still no hook may be left
        explain(cbam_model, x, 0, method, **options)
    assert all_hooks(cbam_model) == 0
    original = cbam_model.head.forward
    cbam_model.head.forward = lambda features: (_ for _ in ()).throw(RuntimeError("boom"))
    try:
        with pytest.raises((RuntimeError, ConfigError)):
            explain(cbam_model, x, 0, method, **options)
    finally:
        cbam_model.head.forward = original
    assert all_hooks(cbam_model) == 0
    torch.testing.assert_close(cbam_model(x), before)


def test_memory_limit_chunks_integrated_gradients_and_keeps_the_result(cbam_model):
    x = torch.randn(3, 3, 32, 32)
    whole = explain(cbam_model, x, 1, "integrated-gradients", n_steps=8)
    sizes = []
    handle = cbam_model.register_forward_pre_hook(lambda m, inputs: sizes.append(inputs[0].shape[0]))
    try:
        chunked = explain(cbam_model, x, 1, "integrated-gradients", n_steps=8, memory_limit=20 * 2**20)
    finally:
        handle.remove()
    assert max(sizes) < 3 * 8  # without the limit one pass holds all 24 path points
    torch.testing.assert_close(chunked.maps, whole.maps, atol=1e-5, rtol=1e-4)


def test_vit_gradcam_reshapes_tokens_and_rollout_is_a_distribution():
    model = create_model(ModelSpec(backbone="deit_tiny", num_classes=2, image_size=32)).eval()
    x = torch.randn(2, 3, 32, 32)
    cam = explain(model, x, 1, "gradcam")
    assert cam.maps.shape == (2, 1, 32, 32) and cam.maps.abs().sum() > 0
    assert cam.options["layer"] is None  # default layer: the last block's norm1
    rollout = explain(model, x, 1, "rollout").maps
    assert (rollout >= 0).all() and rollout.shape == (2, 1, 32, 32)
    with pytest.raises(ConfigError, match=r"layer 'backbone.blocks.0.mlp.act' \(GELU\)"):
        explain(model, x, 1, "guided-gradcam")


def attention_map_and_source(model, x, kind: str, source: str):
    """The ``attention`` map and what the last ``kind`` module's ``source`` submodule output."""
    outputs = []
    last = [m for m in model.modules() if type(m).__name__ == kind][-1]
    handle = getattr(last, source).register_forward_hook(lambda m, i, o: outputs.append(o.detach()))
    try:
        maps = explain(model, x, 0, "attention").maps
    finally:
        handle.remove()
    return maps, outputs[-1]


def upsampled(maps, size):
    return nn.functional.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)


def test_native_cbam_map_is_the_spatial_gate(cbam_model):
    maps, gate = attention_map_and_source(cbam_model, torch.randn(2, 3, 32, 32), "CBAM", "spatial_gate")
    torch.testing.assert_close(maps, upsampled(gate, 32))


def test_native_ga_map_averages_the_affinity_over_queries():
    model = create_model(ModelSpec(backbone="resnet18", attention="ga", num_classes=2, image_size=64)).eval()
    maps, affinity = attention_map_and_source(model, torch.randn(2, 3, 64, 64), "NonLocalAttention", "attn_softmax")
    side = int(affinity.shape[-1] ** 0.5)
    torch.testing.assert_close(maps, upsampled(affinity.mean(1).reshape(2, 1, side, side), 64))


def test_models_without_native_maps_are_refused_with_a_reason():
    model = create_model(ModelSpec(backbone="resnet18", attention="se", num_classes=2, image_size=32)).eval()
    with pytest.raises(ConfigError, match="no native spatial attention map"):
        explain(model, torch.randn(1, 3, 32, 32), 0, "attention")
