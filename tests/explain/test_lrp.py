"""LRP: textbook values on toy networks, conservation on ResNet-18 with gates, every accepted combination
runs, the others are refused by layer name, and no hook or merged parameter is left behind."""

import numpy as np
import pytest
import torch
from torch import nn

from medattn.errors import ConfigError
from medattn.explain import rules
from medattn.explain.lrp import _merged_batch_norms, _probe, lrp
from medattn.explain.targets import TargetModel
from medattn.models.layers import Add, Multiply

from .test_deeplift import assert_refused_by_layer_name, build, hooks_left, matrix_params, rule_based_supported


@pytest.fixture
def no_denormals():
    """Random deep networks produce denormal floats, which are 10-100x slower on CPU."""
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


def mlp() -> nn.Sequential:
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, -0.5, 0.3, 0.8], [-1.2, 0.7, 0.5, -0.1], [0.4, 0.9, -0.6, 0.2]]))
        net[1].bias.copy_(torch.tensor([0.1, -0.2, 0.05]))
        net[3].weight.copy_(torch.tensor([[0.6, -1.1, 0.9], [-0.4, 0.8, 1.3]]))
        net[3].bias.copy_(torch.tensor([-0.3, 0.2]))
    return net.double().eval()


def stabilised(z: np.ndarray, eps: float) -> np.ndarray:
    return z + eps * np.where(z >= 0, 1.0, -1.0)  # zennit's stabiliser: sign(0) = +1


X = np.array([0.9, -0.4, 1.3, 0.6])


def test_epsilon_rule_matches_the_textbook_formula():
    net, eps = mlp(), 0.1
    w1, b1 = net[1].weight.detach().numpy(), net[1].bias.detach().numpy()
    w2, b2 = net[3].weight.detach().numpy(), net[3].bias.detach().numpy()
    z1 = w1 @ X + b1
    a1 = np.maximum(z1, 0)
    z2 = w2 @ a1 + b2
    r2 = np.array([z2[0], 0.0])  # target 0: the explained logit on its unit
    r1 = a1 * (w2.T @ (r2 / stabilised(z2, eps)))  # R_j = sum_k a_j w_jk R_k / (z_k + eps sign z_k)
    r0 = X * (w1.T @ (r1 / stabilised(z1, eps)))  # the ReLU passes relevance unchanged
    got = lrp(TargetModel(net, "softmax"), torch.tensor(X).reshape(1, 4, 1, 1), torch.tensor([0]), epsilon=eps)
    np.testing.assert_allclose(got.flatten().numpy(), r0, rtol=1e-10)


def test_alpha_beta_rule_matches_the_textbook_formula_and_spares_the_output_layer():
    net, eps, alpha, beta = mlp(), 1e-6, 2.0, 1.0
    w1, b1 = net[1].weight.detach().numpy(), net[1].bias.detach().numpy()
    w2, b2 = net[3].weight.detach().numpy(), net[3].bias.detach().numpy()
    z1 = w1 @ X + b1
    a1 = np.maximum(z1, 0)
    z2 = w2 @ a1 + b2
    r2 = np.array([0.0, z2[1]])
    r1 = a1 * (w2.T @ (r2 / stabilised(z2, eps)))  # output layer: epsilon
    xp, xn, wp, wn = np.maximum(X, 0), np.minimum(X, 0), np.maximum(w1, 0), np.minimum(w1, 0)
    z_pos = wp @ xp + wn @ xn + np.maximum(b1, 0)  # positive contributions (with negative inputs allowed)
    z_neg = wn @ xp + wp @ xn + np.minimum(b1, 0)
    s_pos, s_neg = r1 / stabilised(z_pos, eps), r1 / stabilised(z_neg, eps)
    r0 = alpha * (xp * (wp.T @ s_pos) + xn * (wn.T @ s_pos)) - beta * (xp * (wn.T @ s_neg) + xn * (wp.T @ s_neg))
    model = TargetModel(net, "softmax")
    got = lrp(model, torch.tensor(X).reshape(1, 4, 1, 1), torch.tensor([1]), rule="alpha-beta", alpha=alpha, beta=beta)
    np.testing.assert_allclose(got.flatten().numpy(), r0, rtol=1e-8)


class GatedResidualToy(nn.Module):
    """``Add(Multiply(p, sigmoid(q)), r)`` with p, q, r one linear unit each of a [B, 2, 1, 1] input."""

    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.p, self.q, self.r = (nn.Linear(2, 1, bias=False) for _ in range(3))
        self.sigmoid, self.scale, self.add = nn.Sigmoid(), Multiply(), Add()

    def forward(self, x):
        x = self.flatten(x)
        return self.add(self.scale(self.p(x), self.sigmoid(self.q(x))), self.r(x))


def test_sums_split_in_proportion_and_gates_leave_all_relevance_to_the_signal(monkeypatch):
    monkeypatch.setattr(rules, "VERIFIED_COMPOSITES", rules.VERIFIED_COMPOSITES | {GatedResidualToy})
    toy = GatedResidualToy().double().eval()
    x = torch.tensor([0.7, -1.2], dtype=torch.float64)
    wp, wq, wr = (layer.weight.detach()[0] for layer in (toy.p, toy.q, toy.r))
    p, g, r = wp @ x, (wq @ x).sigmoid(), wr @ x
    m = p * g
    out = m + r
    relevance_m, relevance_r = out * m / out, out * r / out  # R split as the summands' shares
    expected = x * wp * relevance_m / p + x * wr * relevance_r / r  # the gate's branch gets nothing
    got = lrp(TargetModel(toy, "softmax"), x.reshape(1, 2, 1, 1), torch.tensor([0]), epsilon=1e-12)
    torch.testing.assert_close(got.flatten(), expected)
    assert abs(got.sum().item() - out.item()) < 1e-9


@pytest.mark.parametrize("attention", ["none", "se", "cbam", "eca", "matched-cbam"])
def test_relevance_is_conserved_in_resnet18(attention, no_denormals):
    classifier = build("resnet18", attention, "block" if attention != "none" else None)
    with torch.no_grad():  # bias-free: every merged BN has zero shift, so no bias absorbs relevance
        for name, p in classifier.named_parameters():
            if name.endswith("bias"):
                p.zero_()
        for name, b in classifier.named_buffers():
            if name.endswith("running_mean"):
                b.zero_()
    model = TargetModel(classifier, "softmax")
    x, targets = torch.randn(2, 3, 64, 64, dtype=torch.float64), torch.tensor([2, 0])
    relevance = lrp(model, x, targets, epsilon=1e-12)
    with torch.no_grad():
        explained = model(x)[torch.arange(2), targets]
    relative = (relevance.sum((1, 2, 3)) - explained).abs() / explained.abs()
    assert relative.max() < 1e-7


@pytest.mark.parametrize("backbone, attention, placement", matrix_params())
def test_runs_or_refuses_on_every_combination(backbone, attention, placement, no_denormals):
    if not rule_based_supported(backbone, attention):
        x = torch.zeros(2, 3, 64, 64)
        assert_refused_by_layer_name(
            "lrp", lambda model: lrp(model, x, torch.tensor([0, 1])), backbone, attention, placement
        )
        return
    model = TargetModel(build(backbone, attention, placement), "softmax")
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    for rule in ("epsilon", "alpha-beta"):
        relevance = lrp(model, x, torch.tensor([1, 2]), rule=rule)
        assert relevance.shape == x.shape
        assert torch.isfinite(relevance).all()
        assert (relevance.abs().flatten(1).amax(1) > 0).all()
    probe = _probe(model.model, x)
    with torch.no_grad(), _merged_batch_norms(probe.merges):
        merged = model.model(x)
    torch.testing.assert_close(merged, probe.logits, rtol=1e-9, atol=1e-9 * probe.logits.abs().max().item())


def test_sigmoid_head_negative_target_is_the_negated_relevance(no_denormals):
    model = TargetModel(build("resnet18", "cbam", "block", size=32, classes=1), "sigmoid")
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    positive = lrp(model, x, torch.tensor([1, 1]))
    torch.testing.assert_close(lrp(model, x, torch.tensor([0, 0])), -positive)


def test_invalid_options_and_training_mode_are_refused():
    model = TargetModel(mlp(), "softmax")
    x = torch.zeros(1, 4, 1, 1)
    with pytest.raises(ConfigError, match="choose one of: epsilon, alpha-beta"):
        lrp(model, x, torch.tensor([0]), rule="gamma")
    with pytest.raises(ConfigError, match="alpha - beta = 1"):
        lrp(model, x, torch.tensor([0]), rule="alpha-beta", alpha=2.0, beta=0.0)
    model.model.train()
    with pytest.raises(ConfigError, match="eval mode"):
        lrp(model, x, torch.tensor([0]))


def test_no_hook_or_merged_parameter_left_after_success_or_exception(no_denormals):
    classifier = build("resnet18", "cbam", "block", size=32)
    model = TargetModel(classifier, "softmax")
    x, targets = torch.randn(2, 3, 32, 32, dtype=torch.float64), torch.tensor([0, 1])
    state = {k: v.clone() for k, v in classifier.state_dict().items()}
    with torch.no_grad():
        before = model(x)

    def unchanged() -> bool:
        same_state = classifier.state_dict().keys() == state.keys() and all(
            torch.equal(v, state[k]) for k, v in classifier.state_dict().items()
        )
        with torch.no_grad():
            return same_state and torch.equal(model(x), before) and hooks_left(model) == []

    lrp(model, x, targets)
    assert unchanged()
    calls = []

    def fail_in_the_attribution_pass(*_):  # the first call is the probe; the second runs merged and hooked
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("forced failure inside the forward pass")

    handle = classifier.head.fc.register_forward_pre_hook(fail_in_the_attribution_pass)
    try:
        with pytest.raises(RuntimeError, match="forced failure"):
            lrp(model, x, targets)
    finally:
        handle.remove()
    assert unchanged()


def test_batch_norms_merge_into_the_convolution_whose_output_they_alone_consume():
    resnet = build("resnet18", "se", "block", size=32)
    merged = {bn for _, bn in _probe(resnet, torch.randn(1, 3, 32, 32, dtype=torch.float64)).merges}
    assert merged == {m for m in resnet.modules() if isinstance(m, nn.BatchNorm2d)}  # stem, branches, shortcuts
    densenet = build("densenet121", "none", None, size=32)
    pairs = _probe(densenet, torch.randn(1, 3, 32, 32, dtype=torch.float64)).merges
    names = {m: n for n, m in densenet.named_modules()}
    got = {(names[conv].rsplit(".", 1)[-1], names[bn].rsplit(".", 1)[-1]) for conv, bn in pairs}
    assert got == {("features_conv0", "features_norm0"), ("conv1", "norm2")}  # pre-activation norms stay
    assert len(pairs) == 1 + 58  # the stem and every dense layer's bottleneck
