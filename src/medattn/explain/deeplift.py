"""DeepLIFT with the Rescale rule (Shrikumar et al., ICML 2017, "Learning Important Features Through
Propagating Activation Differences"), on captum's ``DeepLift``, made exact for medattn's models.

DeepLIFT's defining property is summation-to-delta: the attributions of an image sum to
``f(x) - f(x0)`` for the baseline ``x0``. It holds when every non-linear operation has a rule whose
multipliers satisfy it locally; captum applies its rules to a fixed list of module types and gives
everything else the plain gradient, which silently breaks the property. Here:

- ReLU, ELU, LeakyReLU, Sigmoid, Tanh, Softplus: captum's Rescale rule.
- Other elementwise activations (SiLU in EfficientNet, GELU, Hardswish, ...): the same Rescale rule,
  ``m = (f(x) - f(x0)) / (x - x0)``, falling back to the gradient where ``|x - x0| < eps``.
  Deviation: the paper states Rescale for monotone activations; for non-monotone ones (SiLU, GELU)
  the multiplier can be negative, but summation-to-delta still holds exactly.
- Max pooling and CBAM's max reductions: the rule captum uses for max pooling (the positive part
  of ``max(x) - max(x0)`` goes to the input's arg-max, the negative part to the baseline's arg-max)
  with contributions summed over overlapping windows. captum's own max-pool rule un-pools with
  ``max_unpool``, which overwrites instead of summing where windows overlap (ResNet's and
  DenseNet's 3x3/stride-2 stem pool), and breaks summation-to-delta; it is not used.
- Multiplicative gates ``Multiply(a, g)`` (SE, CBAM, ECA, EfficientNet's SE): the exact product
  rule ``z - z0 = (g + g0)/2 (a - a0) + (a + a0)/2 (g - g0)``, i.e. multipliers ``m_a = (g + g0)/2``
  and ``m_g = (a + a0)/2``, the Shapley split of a two-factor product. Deviation: the paper gives
  no rule for products of two activations; the plain gradient (``g`` and ``a`` only) breaks
  summation-to-delta.
- Softmax-weighted products (GC, GA, LA/ELA, MLDAM heads, ViT attention) and LayerNorm: refused
  before any forward pass (ConfigError naming the layer), see ``medattn.explain.rules``.

The rules for the last three kinds are custom autograd Functions that forward hooks put in place
of the module's output, using captum's convention that every module sees the batch
``[inputs; baselines]`` (captum's ``_hook_main_model`` concatenates them along dim 0, and its
``_compute_diffs`` splits module tensors with ``chunk(2)``). All hooks are removed afterwards, also
when captum raises.
"""

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from captum.attr import DeepLift
from torch import nn

from medattn.explain.rules import classifier_of, layer_kind, require_support, rule_based_support
from medattn.explain.targets import TargetModel

# Elementwise types captum's DeepLift has a (correct) Rescale rule for; the others get ours.
CAPTUM_RESCALE = frozenset({nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus})


def deeplift_support(module: nn.Module) -> bool | str:
    """Whether DeepLIFT as implemented here handles ``module`` (see ``medattn.explain.rules``)."""
    return rule_based_support(module)


def deeplift(
    model: TargetModel,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    baselines: torch.Tensor,
    *,
    eps: float = 1e-10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepLIFT-Rescale attributions of the ``targets`` columns of ``model`` and their convergence delta.

    Args:
        model: the wrapped classifier, in eval mode.
        inputs: images [B, C, H, W].
        targets: one output column per image, LongTensor [B].
        baselines: reference images, [B, C, H, W] or broadcastable to it.
        eps: below this ``|x - x0|`` a rule falls back to the gradient (captum's default).

    Returns:
        ``(attributions [B, C, H, W], delta [B])`` where ``delta = sum(attributions) - (f(x) - f(x0))``
        as captum computes it; it is zero up to rounding for every model this function accepts.

    Raises:
        ConfigError: the model has a layer without an exact rule, or is in training mode.
    """
    require_support(model, "deeplift", deeplift_support)
    baselines = torch.as_tensor(baselines).to(inputs).expand_as(inputs).contiguous()
    inputs = inputs.detach().requires_grad_()  # a new leaf: the caller's tensor is left as it was
    explainer = _DeepLift(model, eps=eps)
    classifier = classifier_of(model)
    try:
        with _rule_hooks(classifier, eps), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"\s*Setting forward, backward hooks", category=UserWarning)
            attributions, delta = explainer.attribute(
                inputs, baselines=baselines, target=targets, return_convergence_delta=True
            )
    finally:
        _forget_captum_state(classifier)
    return attributions.detach(), delta.detach()


class _DeepLift(DeepLift):
    """captum's DeepLift restricted to the elementwise rules it gets right (``CAPTUM_RESCALE``)."""

    def _is_non_linear(self, module: nn.Module) -> bool:
        return type(module) in CAPTUM_RESCALE


def _forget_captum_state(model: nn.Module) -> None:
    """Drop the ``input``/``output`` copies captum leaves on modules whose backward never ran."""
    for module in model.modules():
        if type(module) in CAPTUM_RESCALE:
            for attribute in ("input", "output"):
                module.__dict__.pop(attribute, None)


@contextmanager
def _rule_hooks(model: nn.Module, eps: float) -> Iterator[None]:
    """Forward hooks giving gates, max operations and non-captum activations their DeepLIFT rule."""
    handles = []
    try:
        for module in model.modules():
            kind = layer_kind(module)
            if kind == "gate":
                handles.append(module.register_forward_hook(_gate_hook))
            elif kind == "max" or (kind == "elementwise" and type(module) not in CAPTUM_RESCALE):
                rule = _MaxRule if kind == "max" else _RescaleRule
                handles.append(module.register_forward_hook(_output_rule_hook(rule, eps)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _gate_hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
    return _ProductRule.apply(*inputs)


def _output_rule_hook(rule: type[torch.autograd.Function], eps: float) -> Callable:
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        return rule.apply(inputs[0], output, module.forward, eps)  # forward() skips the hooks

    return hook


def _halves_mean(t: torch.Tensor) -> torch.Tensor:
    """``(t_input + t_baseline) / 2`` for both halves of a ``[inputs; baselines]`` batch."""
    first, second = t.chunk(2)
    mean = (first + second) / 2
    return torch.cat([mean, mean])


def _halves_diff(t: torch.Tensor) -> torch.Tensor:
    """``t_input - t_baseline`` for both halves of a ``[inputs; baselines]`` batch."""
    first, second = t.chunk(2)
    return torch.cat(2 * [first - second])


class _ProductRule(torch.autograd.Function):
    """``a * g`` whose backward uses the exact product rule ``m_a = mean(g, g0)``, ``m_g = mean(a, a0)``."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, g)
        return a * g

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        a, g = ctx.saved_tensors
        grad_a = (grad * _halves_mean(g)).sum_to_size(a.shape)
        grad_g = (grad * _halves_mean(a)).sum_to_size(g.shape)
        return grad_a, grad_g


class _OutputRule(torch.autograd.Function):
    """Passes ``y = fn(x)`` through unchanged; subclasses' backward replace the gradient by a DeepLIFT rule."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor, fn: Callable, eps: float) -> torch.Tensor:
        ctx.save_for_backward(x, y)
        ctx.fn, ctx.eps = fn, eps
        return y.clone()


class _RescaleRule(_OutputRule):
    """The output ``y = f(x)`` of an elementwise ``f``; backward multiplies by ``dy / dx`` (Rescale)."""

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, y = ctx.saved_tensors
        dx, dy = _halves_diff(x), _halves_diff(y)
        small = dx.abs() < ctx.eps
        with torch.enable_grad():
            leaf = x.detach().requires_grad_()
            (gradient,) = torch.autograd.grad(ctx.fn(leaf), leaf, grad)
        rescaled = grad * dy / torch.where(small, torch.ones_like(dx), dx)
        return torch.where(small, gradient, rescaled), None, None, None


class _MaxRule(_OutputRule):
    """The output of a max operation ``y = pool(x)``; backward applies the DeepLIFT max rule (module doc)."""

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, y = ctx.saved_tensors
        x_in, x_ref = (t.detach().requires_grad_() for t in x.chunk(2))
        y_in, y_ref = y.chunk(2)
        top = torch.maximum(y_in, y_ref)
        dx = x_in.detach() - x_ref.detach()
        small = dx.abs() < ctx.eps
        safe_dx = torch.where(small, torch.ones_like(dx), dx)
        with torch.enable_grad():
            out_in, out_ref = ctx.fn(x_in), ctx.fn(x_ref)

            def scatter(out, leaf, weights):  # sums ``weights`` onto each window's arg-max (autograd of the max)
                return torch.autograd.grad(out, leaf, weights, retain_graph=True)[0]

            halves = []
            for g in grad.chunk(2):  # both halves share the multipliers, each carries its own gradient
                contribution = scatter(out_in, x_in, g * (top - y_ref)) + scatter(out_ref, x_ref, g * (y_in - top))
                halves.append(torch.where(small, scatter(out_in, x_in, g), contribution / safe_dx))
        return torch.cat(halves), None, None, None
