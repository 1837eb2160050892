"""DeepLIFT: summation-to-delta on every combination it accepts, refusal by layer name for the rest,
hand-computed values for the product, Rescale and max rules, and no hook left behind."""

import pytest
import torch
from captum.attr import DeepLift
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from medattn.config import ModelSpec
from medattn.errors import ConfigError
from medattn.explain import rules
from medattn.explain.deeplift import deeplift
from medattn.explain.rules import ATTENTION_TYPES
from medattn.explain.targets import TargetModel
from medattn.models import create_model
from medattn.models.attention.cbam import CBAM, MaxReduce
from medattn.models.catalog import valid_combinations
from medattn.models.layers import Multiply

# The one place that says which combinations the rule-based methods (DeepLIFT and LRP) support:
# CNN backbones with no attention or with gate attention. Softmax attention and ViTs are refused.
RULE_BASED_ATTENTION = {"none", "se", "cbam", "eca"}
HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


def rule_based_supported(backbone: str, attention: str) -> bool:
    return backbone not in ("deit_tiny", "vit_tiny") and attention in RULE_BASED_ATTENTION


def matrix_params() -> list:
    params = []
    for backbone, attention, placement in valid_combinations():
        name = f"{backbone}-{attention}-{placement or 'default'}"
        params.append(pytest.param(backbone, attention, placement, id=name))
    return params


def build(backbone: str, attention: str, placement: str | None, *, weights: bool = True, size: int = 64, classes=3):
    """The classifier in eval mode; with ``weights``, random non-trivial weights in float64.

    The architecture is built on the meta device (timm's VGG-16 spends seconds initialising a
    100M-parameter pre-logits layer that the backbone drops), then every parameter is drawn at
    random, zero-initialised gates included, and the BatchNorm statistics are those of a random
    batch, so BN layers are neither the identity nor blowing activations up.
    """
    with torch.device("meta"):
        spec = ModelSpec(backbone, attention, placement, num_classes=classes, image_size=size)
        model = create_model(spec, load_weights=False)
    if not weights:
        return model.eval()
    model.to_empty(device="cpu")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim > 1:
                nn.init.kaiming_normal_(p)
            elif name.endswith("weight"):
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0, 0.1)
        norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None  # one training batch sets the running statistics to its own
        model.train()(torch.randn(8, 3, size, size))
        for bn in norms:
            bn.momentum = 0.1
    return model.eval().double()


def hooks_left(model: nn.Module) -> list[str]:
    return [f"{name}.{d}" for name, m in model.named_modules() for d in HOOK_DICTS if getattr(m, d)]


@pytest.fixture
def no_denormals():
    """Random deep networks produce denormal floats, which are 10-100x slower on CPU."""
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


def assert_refused_by_layer_name(method: str, explain, backbone: str, attention: str, placement: str | None):
    """``explain(model)`` raises a one-line ConfigError naming an attention layer, before any forward pass."""
    model = build(backbone, attention, placement, weights=False)
    calls = []
    handle = model.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        with pytest.raises(ConfigError) as info:
            explain(TargetModel(model, "softmax"))
    finally:
        handle.remove()
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{method} cannot handle layer '")
    assert message.endswith("use saliency, integrated-gradients, gradcam or occlusion")
    assert isinstance(model.get_submodule(message.split("'")[1]), ATTENTION_TYPES)
    assert not calls, "refusing must not need a forward pass"


@pytest.mark.parametrize("backbone, attention, placement", matrix_params())
def test_summation_to_delta_or_refusal(backbone, attention, placement, no_denormals):
    if not rule_based_supported(backbone, attention):
        x = torch.zeros(2, 3, 64, 64)
        assert_refused_by_layer_name(
            "deeplift", lambda model: deeplift(model, x, torch.tensor([0, 1]), x), backbone, attention, placement
        )
        return
    assert_summation_to_delta(backbone, attention, placement)


@pytest.mark.parametrize("attention", ["matched-se", "matched-cbam"])
def test_parameter_matched_controls_keep_summation_to_delta(attention, no_denormals):
    assert_summation_to_delta("resnet18", attention, None)


def assert_summation_to_delta(backbone: str, attention: str, placement: str | None) -> None:
    model = TargetModel(build(backbone, attention, placement), "softmax")
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    x0 = 0.3 * torch.randn(2, 3, 64, 64, dtype=torch.float64)
    targets = torch.tensor([0, 2])
    attributions, delta = deeplift(model, x, targets, x0)
    with torch.no_grad():
        difference = (model(x) - model(x0))[torch.arange(2), targets]
    assert attributions.shape == x.shape and delta.shape == (2,)
    ours = attributions.sum((1, 2, 3)) - difference  # not trusting captum's delta alone
    assert difference.abs().min() > 1e-6
    assert (ours.abs() / difference.abs()).max() < 1e-8
    assert (delta.abs() / difference.abs()).max() < 1e-8


class GatedToy(nn.Module):
    """``relu(w . x) * sigmoid(v . x)`` on a [B, 2, 1, 1] input."""

    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.signal, self.relu = nn.Linear(2, 1, bias=False), nn.ReLU()
        self.gate_fc, self.sigmoid = nn.Linear(2, 1, bias=False), nn.Sigmoid()
        self.scale = Multiply()

    def forward(self, x):
        x = self.flatten(x)
        return self.scale(self.relu(self.signal(x)), self.sigmoid(self.gate_fc(x)))


@pytest.fixture
def toy_is_verified(monkeypatch):
    monkeypatch.setattr(rules, "VERIFIED_COMPOSITES", rules.VERIFIED_COMPOSITES | {GatedToy})


@pytest.mark.filterwarnings("ignore:Setting forward, backward hooks", "ignore:Input Tensor 0 did not")
def test_gate_gets_the_exact_product_rule(toy_is_verified):
    toy = GatedToy().double().eval()
    w, v = torch.tensor([1.5, -2.0]), torch.tensor([0.7, 1.3])
    with torch.no_grad():
        toy.signal.weight.copy_(w[None])
        toy.gate_fc.weight.copy_(v[None])
    x, x0 = torch.tensor([1.0, -0.5]), torch.tensor([-0.2, 0.4])  # w.x > 0 > w.x0: the ReLU's Rescale matters
    s, s0, t, t0 = w @ x, w @ x0, v @ x, v @ x0
    a, a0, g, g0 = s.relu(), s0.relu(), t.sigmoid(), t0.sigmoid()
    # Rescale through the ReLU and the sigmoid, then m_a = mean(g, g0), m_g = mean(a, a0) at the product.
    expected = ((g + g0) / 2 * (a - a0) / (s - s0) * w + (a + a0) / 2 * (g - g0) / (t - t0) * v) * (x - x0)
    model = TargetModel(toy, "softmax")
    inputs, baselines = x.double().reshape(1, 2, 1, 1), x0.double().reshape(1, 2, 1, 1)
    attributions, delta = deeplift(model, inputs, torch.tensor([0]), baselines)
    torch.testing.assert_close(attributions.flatten(), expected.double())
    assert abs(delta.item()) < 1e-12
    plain = DeepLift(model).attribute(inputs, baselines=baselines, target=0)  # gradient at the product
    assert not torch.allclose(plain.flatten(), expected.double(), atol=1e-3)


def test_silu_gets_the_rescale_rule_captum_lacks():
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 1, bias=False), nn.SiLU(), nn.Linear(1, 1, bias=False))
    net = net.double().eval()
    w1, w2 = net[1].weight.detach()[0], net[3].weight.item()
    x, x0 = torch.tensor([0.8, -1.1], dtype=torch.float64), torch.tensor([-0.9, 0.3], dtype=torch.float64)
    z, z0 = w1 @ x, w1 @ x0
    expected = w2 * (nn.functional.silu(z) - nn.functional.silu(z0)) / (z - z0) * w1 * (x - x0)
    attributions, delta = deeplift(
        TargetModel(net, "softmax"), x.reshape(1, 2, 1, 1), torch.tensor([0]), x0.reshape(1, 2, 1, 1)
    )
    torch.testing.assert_close(attributions.flatten(), expected)
    assert abs(delta.item()) < 1e-12


@pytest.mark.filterwarnings("ignore:Setting forward, backward hooks", "ignore:Input Tensor 0 did not")
def test_overlapping_max_pool_keeps_summation_to_delta_where_captum_does_not():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(3, 2, 1), nn.Flatten(), nn.Linear(32, 2))
    model = TargetModel(net.double().eval(), "softmax")
    x, x0 = torch.randn(2, 1, 8, 8, dtype=torch.float64), torch.randn(2, 1, 8, 8, dtype=torch.float64)
    targets = torch.tensor([0, 1])
    _, delta = deeplift(model, x, targets, x0)
    assert delta.abs().max() < 1e-12
    _, captum_delta = DeepLift(model).attribute(x, baselines=x0, target=targets, return_convergence_delta=True)
    assert captum_delta.abs().max() > 1e-3  # max_unpool overwrites where 3x3/stride-2 windows overlap


def test_max_rule_gives_a_decrease_to_the_baselines_winner():
    # max(x) - max(x0) = 1 - 2: the input's winner (x_0) did not cause the decrease; the baseline's
    # winner (x_1, 2 -> 0.5) did, so it gets all of it (the rule captum uses for max pooling).
    net = nn.Sequential(MaxReduce((2, 3)), nn.Flatten()).double().eval()
    x = torch.tensor([[[[1.0, 0.5]]]], dtype=torch.float64)
    x0 = torch.tensor([[[[0.0, 2.0]]]], dtype=torch.float64)
    attributions, delta = deeplift(TargetModel(net, "softmax"), x, torch.tensor([0]), x0)
    torch.testing.assert_close(attributions.flatten(), torch.tensor([0.0, -1.0], dtype=torch.float64))
    assert delta.abs().item() < 1e-12


def test_cbam_keeps_images_of_a_batch_independent():
    # DeepLIFT runs [inputs; baselines] as one batch; CBAM must not mix its halves.
    cbam = CBAM(16).eval()
    x = torch.randn(4, 16, 5, 5)
    torch.testing.assert_close(cbam(x)[:2], cbam(x[:2]))


def test_sigmoid_head_negative_target_is_the_negated_attribution(no_denormals):
    model = TargetModel(build("resnet18", "se", "block", size=32, classes=1), "sigmoid")
    x, x0 = torch.randn(2, 3, 32, 32, dtype=torch.float64), torch.zeros(2, 3, 32, 32, dtype=torch.float64)
    positive, _ = deeplift(model, x, torch.tensor([1, 1]), x0)
    negative, delta = deeplift(model, x, torch.tensor([0, 0]), x0)
    torch.testing.assert_close(negative, -positive)
    assert delta.abs().max() < 1e-8


def test_training_mode_is_refused():
    model = build("resnet18", "none", None, weights=False).train()
    with pytest.raises(ConfigError, match="eval mode"):
        deeplift(TargetModel(model, "softmax"), torch.zeros(1, 3, 32, 32), torch.tensor([0]), torch.zeros(1))


def test_no_hook_or_state_left_after_success_or_exception(no_denormals):
    classifier = build("resnet18", "cbam", "block", size=32)
    model = TargetModel(classifier, "softmax")
    x, x0, targets = torch.randn(2, 3, 32, 32, dtype=torch.float64), torch.zeros(1, 3, 32, 32), torch.tensor([0, 1])
    with torch.no_grad():
        before = model(x)
    deeplift(model, x, targets, x0)
    assert hooks_left(model) == []

    def fail(*_):
        raise RuntimeError("forced failure inside the forward pass")

    handle = classifier.backbone.stages[2].get_submodule("layer2.1.attn.spatial_scale").register_forward_hook(fail)
    try:
        with pytest.raises(RuntimeError, match="forced failure"):
            deeplift(model, x, targets, x0)
    finally:
        handle.remove()
    assert hooks_left(model) == []
    assert not [n for n, m in model.named_modules() if "input" in m.__dict__ or "output" in m.__dict__]
    with torch.no_grad():
        assert torch.equal(model(x), before)
