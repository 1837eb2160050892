"""Parameter-matched controls: ``matched-<name>`` deepens the baseline where ``<name>`` would go.

Why: adding attention also adds parameters, so "the network with SE/CBAM/GC is better" does not by
itself say that attention helps; the Goncalves et al. 2022 survey (seed 001) asks exactly this: do
attention models perform well "because of the inner-functioning of their attention mechanisms
themselves or just because we are increasing the number of model parameters?". A study that
compares ``none``, ``<name>`` and ``matched-<name>`` separates the two.

What: ``matched-<name>`` exists for every registered mechanism with a ``block`` or ``stage``
placement (head and replace-last mechanisms are refused) and goes at exactly the positions where
``<name>`` would go. At each position it is a plain residual bottleneck with no gating or attention,
``x + W2 act(W1 x)`` with 1x1 convolutions C -> h -> C, W2 zero-initialised so the network starts as
the baseline (as a deepened ResNet block whose last BatchNorm is zero-initialised does). Its
parameters are counted as ``attention_params`` (``model_info``, the study's cost table), its modules
as ``attention_modules``, so the control and the mechanism are compared like with like.

The width h: the mechanism is built with the same options (``attention_options['matched-<name>']``,
which a preset fills with ``<name>``'s options, e.g. rao2023's) on the meta device and counted,
P_mech(C). The bottleneck uses biases (b = 1) iff the mechanism's convolutions/linear layers do, and
has P(h) = h (2C + b) + b C parameters (P(0) = 0: no module). Going through the positions in the
order the placement visits them, with S the surplus so far (sum of P(h) - P_mech over earlier
positions), h is the integer >= 0 minimising |P(h) - (P_mech(C) - S)|, i.e.

    h = round((P_mech(C) - S - b C) / (2C + b))      (ties to the smaller h, never below 0)

so the running total stays within about half a step (about C parameters) of the mechanism's total, though
one position alone cannot get closer than a step allows. Without the carried surplus GC would
round up at every position (+1.8 % on ResNet-18). SE matches exactly (h = its reduction width).
When h = 0 the position is left unchanged (``nn.Identity``). A mechanism that adds fewer than half
the narrowest bottleneck's parameters at a position has no control: ``matched-eca`` (ECA's 1-D
convolution has 3-9 parameters, the narrowest bottleneck about 2C) is refused with a one-line
error, since the baseline itself is already ECA's parameter-matched control.
"""

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from medattn.errors import ConfigError
from medattn.models.attention.base import (
    CONTROL_PLACEMENTS,
    CONTROL_PREFIX,
    AttentionEntry,
    AttentionLayer,
    attention_names,
    get_attention,
    register_entry,
)
from medattn.models.layers import Add


class MatchedBottleneck(AttentionLayer):
    """``x + fc2(act(fc1(x)))``, fc2 zero-initialised: a residual bottleneck with no attention.

    An ``AttentionLayer`` only so that a built model reports it where the mechanism it replaces
    would be reported; it computes no attention. The addition is an ``Add`` module so that
    attribution rules see the residual sum.

    Args:
        channels: input (= output) channels C.
        rd_channels: bottleneck width h.
        bias: biases in both convolutions.
        act_layer: activation between the convolutions.
    """

    def __init__(self, channels: int, *, rd_channels: int, bias: bool = True, act_layer: type[nn.Module] = nn.ReLU):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, rd_channels, 1, bias=bias)
        self.act = act_layer()
        self.fc2 = nn.Conv2d(rd_channels, channels, 1, bias=bias)
        self.residual = Add()
        nn.init.zeros_(self.fc2.weight)
        if bias:
            nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x, self.fc2(self.act(self.fc1(x))))


def bottleneck_params(channels: int, width: int, bias: bool) -> int:
    """Parameters of a MatchedBottleneck of ``width`` (0 for width 0: no module)."""
    return width * (2 * channels + bias) + channels * bias if width else 0


def matched_width(target: int, channels: int, bias: bool) -> int:
    """The width h >= 0 whose bottleneck has the parameter count nearest ``target`` (ties: smaller h)."""
    below = max(0, (target - channels * bias) // (2 * channels + bias))
    return min((0, below, below + 1), key=lambda width: abs(bottleneck_params(channels, width, bias) - target))


def uses_bias(module: nn.Module) -> bool:
    """Whether any convolution or linear layer of ``module`` has a bias (its bias convention)."""
    layers = (nn.Conv1d, nn.Conv2d, nn.Linear)
    return any(m.bias is not None for m in module.modules() if isinstance(m, layers))


def mechanism_size(build_mechanism: Callable[..., nn.Module], channels: int, options: dict) -> tuple[int, bool]:
    """Parameter count and bias convention of the mechanism at ``channels``, built with ``options``.

    It is built on the meta device: no memory used, no random numbers drawn (so the rest of the
    model is initialised as it would be without it).
    """
    with torch.device("meta"):
        mechanism = build_mechanism(channels, **options)
    return sum(p.numel() for p in mechanism.parameters()), uses_bias(mechanism)


class MatchedControls:
    """``make(channels)`` for the positions of one model: each call builds the control for one position.

    Keeps the running surplus (control parameters minus mechanism parameters so far) and gives
    each position the width nearest its mechanism's count minus that surplus.

    Args:
        build_mechanism: the mechanism's ``build(channels, **options)``.
        **options: the mechanism's options (the bottleneck also takes its ``act_layer``).
    """

    def __init__(self, build_mechanism: Callable[..., nn.Module], mechanism: str, **options):
        self.build_mechanism = build_mechanism
        self.mechanism = mechanism
        self.options = options
        self.surplus = 0

    def __call__(self, channels: int) -> nn.Module:
        target, bias = mechanism_size(self.build_mechanism, channels, self.options)
        if 2 * target < bottleneck_params(channels, 1, bias):
            raise ConfigError(
                f"attention '{CONTROL_PREFIX}{self.mechanism}': {self.mechanism} adds {target} parameters at "
                f"{channels} channels, under half the narrowest bottleneck's {bottleneck_params(channels, 1, bias)}; "
                "no parameter-matched control exists"
            )
        width = matched_width(target - self.surplus, channels, bias)
        self.surplus += bottleneck_params(channels, width, bias) - target
        if not width:
            return nn.Identity()
        act_layer = self.options.get("act_layer", nn.ReLU)
        return MatchedBottleneck(channels, rd_channels=width, bias=bias, act_layer=act_layer)


def register_controls() -> None:
    """Register ``matched-<name>`` for every registered mechanism that goes in blocks or after stages."""
    for name in attention_names():
        entry = get_attention(name)
        placements = tuple(p for p in entry.placements if p in CONTROL_PLACEMENTS)
        if placements:
            control = AttentionEntry(
                CONTROL_PREFIX + name,
                partial(MatchedControls, entry.build, name),
                placements,
                f"parameter-matched control for {name} ({entry.reference}); seed 001's question",
                entry.default_strides,
                control_of=name,
            )
            register_entry(control)


register_controls()
