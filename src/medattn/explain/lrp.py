"""Layer-wise Relevance Propagation (Bach et al., PLoS ONE 2015, "On Pixel-Wise Explanations for
Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation"), on zennit (Anders et al. 2021).

The relevance of the explained score is propagated from the output to the pixels, layer by layer:

- Convolutions and linear layers: LRP-epsilon (``rule="epsilon"``) everywhere, or LRP-alpha-beta
  (``rule="alpha-beta"``) everywhere except the output layer (the last convolution or linear layer
  of the forward pass), which keeps LRP-epsilon, following Montavon et al. 2019 ("Layer-wise
  relevance propagation: an overview": alpha-beta/z+ below, epsilon at the top; zennit's
  ``EpsilonAlpha2Beta1`` keeps epsilon for every dense layer instead). Deviation: no special rule
  (ZBox, Flat) for the first layer, since valid pixel bounds depend on the dataset's
  normalisation; it gets the same rule as the other layers.
- BatchNorm directly after a convolution (the only consumer of its output, found by following the
  tensors of one forward pass) is merged into it (zennit's ``MergeBatchNorm``), so the rule sees
  the whole affine map. Deviation: a BatchNorm with no convolution right before it (DenseNet's
  pre-activation ``norm1``/``norm5``/transition norms) gets the Pass rule: relevance goes through
  unchanged, i.e. the BN is treated as the identity for relevance (its per-channel shift absorbs
  nothing). Merged BatchNorms compute the identity and also get Pass.
- Activations: Pass (relevance through unchanged), zennit's convention. Deviation: LRP is derived
  for ReLU networks; for SiLU (EfficientNet) Pass is the common practice, without that derivation.
- Average pooling: zennit's Norm rule (LRP-epsilon for a fixed averaging map). Max pooling:
  winner-take-all (the gradient).
- Residual sums ``Add(x, y)``: relevance split in proportion to the summands,
  ``R_x = R x / (x + y)`` with the epsilon stabiliser (the LRP-epsilon rule of a sum).
- Gates ``Multiply(x, gate)`` (SE, CBAM, ECA, EfficientNet's SE): "signal-take-all", all relevance
  to the signal ``x`` and none to the gate (Arras et al. 2017, "Explaining recurrent neural
  network predictions in sentiment analysis", for LSTM gates). The gate's layers (including
  CBAM's max reductions) therefore receive zero relevance; the gate still scales the signal in
  the forward pass, so it shapes the relevance through the denominators of the layers above.
- Softmax attention (GC, GA, LA/ELA, MLDAM heads, ViT/DeiT attention) and LayerNorm: refused before
  any forward pass (ConfigError naming the layer), see ``medattn.explain.rules``.

The explained score is the target column of the TargetModel. For a sigmoid head, whose columns
are ``[-z, z]``, the score ``+-z`` is put on the logit unit itself; every rule is linear in the
incoming relevance, so explaining ``-z`` gives the negated relevance of ``z``.

Zennit's hooks, the BatchNorm merges and the two-input rules are all undone afterwards, also when
the forward or backward pass raises.
"""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from zennit.canonizers import SequentialMergeBatchNorm
from zennit.core import Composite, stabilize
from zennit.rules import AlphaBeta, Epsilon, Norm, Pass

from medattn.errors import ConfigError, choose
from medattn.explain.rules import classifier_of, layer_kind, require_support, rule_based_support
from medattn.explain.targets import TargetModel
from medattn.models.layers import Add, Multiply

RULES = ("epsilon", "alpha-beta")
WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
AVERAGING = (
    nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
)  # fmt: skip


def lrp_support(module: nn.Module) -> bool | str:
    """Whether LRP as implemented here handles ``module`` (see ``medattn.explain.rules``)."""
    return rule_based_support(module)


def lrp(
    model: TargetModel,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    rule: str = "epsilon",
    epsilon: float = 1e-6,
    alpha: float = 1.0,
    beta: float = 0.0,
) -> torch.Tensor:
    """LRP relevance of every input element for the ``targets`` columns of ``model``.

    Args:
        model: the wrapped classifier, in eval mode.
        inputs: images [B, C, H, W].
        targets: one output column per image, LongTensor [B].
        rule: ``epsilon`` or ``alpha-beta`` (see module doc for where each applies).
        epsilon: LRP-epsilon's epsilon, also the stabiliser of every other division.
        alpha, beta: weights of the positive and negative contributions; ``alpha - beta`` must be 1.

    Returns:
        Relevance [B, C, H, W]. With LRP-epsilon, bias-free layers and a small epsilon it sums to
        the explained score (conservation).

    Raises:
        ConfigError: unknown rule, invalid alpha/beta, a layer without an LRP rule, training mode.
    """
    choose("LRP rule", rule, RULES)
    if rule == "alpha-beta" and (alpha < 0 or beta < 0 or abs(alpha - beta - 1) > 1e-9):
        raise ConfigError(f"LRP alpha-beta needs alpha, beta >= 0 and alpha - beta = 1, got {alpha} and {beta}")
    require_support(model, "lrp", lrp_support)
    classifier = classifier_of(model)
    x = inputs.detach().clone().requires_grad_(True)
    probe = _probe(classifier, x)
    composite = Composite(module_map=_module_map(rule, epsilon, alpha, beta, probe.output_layer))
    with _merged_batch_norms(probe.merges), _two_input_rules(classifier, epsilon):
        try:
            composite.register(classifier)
            logits = classifier(x)
            head = model.head if isinstance(model, TargetModel) else "softmax"
            (relevance,) = torch.autograd.grad(logits, x, _output_relevance(head, logits.detach(), targets))
        finally:
            composite.remove()
    return relevance.detach()


@dataclass
class _Probe:
    """What one plain forward pass reveals: the logits, the mergeable (layer, BatchNorm) pairs, the output layer."""

    logits: torch.Tensor  # the unmerged model's, for tests: merging must not change the function
    merges: list[tuple[nn.Module, nn.Module]]
    output_layer: nn.Module | None


def _probe(model: nn.Module, x: torch.Tensor) -> _Probe:
    """Follow the tensors of one forward pass: a BatchNorm merges into the layer whose output it alone consumes."""
    produced, consumers, order, candidates, keep = {}, Counter(), [], [], []

    def on_weighted(module, inputs, output):
        produced[id(output)] = module
        order.append(module)
        keep.append(output)

    def on_consumer(module, inputs):
        tensors = [t for t in inputs if isinstance(t, torch.Tensor)]
        keep.extend(tensors)  # alive until the pass ends, so no id is reused by a later tensor
        consumers.update(id(t) for t in tensors)
        if isinstance(module, _BatchNorm) and id(inputs[0]) in produced:
            candidates.append((produced[id(inputs[0])], module, id(inputs[0])))

    handles = []
    try:
        for module in model.modules():
            if isinstance(module, WEIGHTED):
                handles.append(module.register_forward_hook(on_weighted))
            if isinstance(module, _BatchNorm) or not list(module.children()):
                handles.append(module.register_forward_pre_hook(on_consumer))
        with torch.no_grad():
            logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    merges = [(layer, bn) for layer, bn, tensor in candidates if consumers[tensor] == 1]
    return _Probe(logits, merges, order[-1] if order else None)


def _module_map(rule: str, epsilon: float, alpha: float, beta: float, output_layer: nn.Module | None):
    def module_map(ctx: dict, name: str, module: nn.Module):
        if isinstance(module, _BatchNorm) or layer_kind(module) == "elementwise":
            return Pass()
        if type(module) in WEIGHTED:
            if rule == "epsilon" or module is output_layer:
                return Epsilon(epsilon=epsilon)
            return AlphaBeta(alpha=alpha, beta=beta, stabilizer=epsilon)
        if type(module) in AVERAGING:
            return Norm(stabilizer=epsilon)
        return None

    return module_map


@contextmanager
def _merged_batch_norms(pairs: list[tuple[nn.Module, nn.Module]]) -> Iterator[None]:
    """Fold each BatchNorm into its layer (zennit's merge), restoring every parameter afterwards."""
    merges = []
    try:
        for layer, bn in pairs:
            merge = SequentialMergeBatchNorm()  # only its register/remove (the merge itself) are used
            merge.register((layer,), bn)
            merges.append(merge)
            # zennit leaves the BN computing x / sqrt(1 + eps); make it the exact identity.
            bn.running_var.data = torch.full_like(bn.running_var, 1.0 - bn.eps)
        yield
    finally:
        for merge in reversed(merges):
            merge.remove()


@contextmanager
def _two_input_rules(model: nn.Module, epsilon: float) -> Iterator[None]:
    """Forward hooks putting the LRP rules of ``Add`` and ``Multiply`` in place of their outputs."""

    def on_add(module, inputs, output):
        return _SumRule.apply(*inputs, epsilon)

    def on_gate(module, inputs, output):
        return _SignalTakesAll.apply(*inputs)

    hooks = {Add: on_add, Multiply: on_gate}
    handles = []
    try:
        for module in model.modules():
            if type(module) in hooks:
                handles.append(module.register_forward_hook(hooks[type(module)]))
        yield
    finally:
        for handle in handles:
            handle.remove()


class _SumRule(torch.autograd.Function):
    """``x + y``; backward splits the relevance in proportion to the summands (LRP-epsilon of a sum)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor, epsilon: float) -> torch.Tensor:
        ctx.save_for_backward(x, y)
        ctx.epsilon = epsilon
        return x + y

    @staticmethod
    def backward(ctx, relevance: torch.Tensor):
        x, y = ctx.saved_tensors
        ratio = relevance / stabilize(x + y, ctx.epsilon)
        return (ratio * x).sum_to_size(x.shape), (ratio * y).sum_to_size(y.shape), None


class _SignalTakesAll(torch.autograd.Function):
    """``x * gate``; backward gives all relevance to ``x`` and none to the gate (Arras et al. 2017)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        ctx.x_shape, ctx.gate_shape = x.shape, gate.shape
        return x * gate

    @staticmethod
    def backward(ctx, relevance: torch.Tensor):
        # Zeros rather than None: zennit's hooks on the gate's layers expect a tensor.
        return relevance.sum_to_size(ctx.x_shape), relevance.new_zeros(ctx.gate_shape)


def _output_relevance(head: str, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Relevance on the logits: the explained score on its unit, zero elsewhere (module doc for sigmoid heads)."""
    targets = torch.as_tensor(targets, device=logits.device).long().reshape(-1)
    if head == "sigmoid":
        sign = targets.to(logits.dtype) * 2 - 1
        return sign[:, None] * logits
    return F.one_hot(targets, logits.shape[1]).to(logits) * logits
