"""Which layers the rule-based attribution methods (DeepLIFT, LRP) can handle, and the refusal when one cannot.

DeepLIFT (Shrikumar et al. 2017) and LRP (Bach et al. 2015) replace the gradient of every
non-linear operation by a rule. A non-linearity without a rule silently gets the plain gradient,
and the attribution is then neither DeepLIFT nor LRP, with no error to show it. So these methods
are "right or refuse": every module of the classifier is classified by its exact type, and a
method raises a one-line ConfigError naming the first layer it cannot handle.

Kinds of module (``layer_kind``):

- ``container``: its own forward only routes tensors through its children and through linear
  functional operations (cat, mean, sum, flatten, reshape, transpose). Each class in
  ``VERIFIED_COMPOSITES`` was admitted by reading its forward; a new composite module must be
  read and added there before rule-based methods accept it.
- ``linear``: leaves affine in their input in eval mode (convolution, linear, BatchNorm,
  average pooling, identity, dropout, flatten, residual ``Add``). timm's ``BatchNormAct2d`` is
  an affine BatchNorm whose activation and dropout are child modules, so it counts here.
- ``elementwise``: scalar activations applied to each element on its own.
- ``max``: outputs are selections of input elements (max pooling, CBAM's ``MaxReduce``).
- ``gate``: the multiplicative gate ``Multiply(x, gate)`` (SE, CBAM, ECA, EfficientNet's SE).
- ``refused``: products of activations weighted by a softmax (self-attention, global context,
  MLDAM) or division by statistics of the layer's own input (LayerNorm); ``REFUSED`` gives the
  reason. Neither method has a rule for these that keeps its defining property.
- ``unknown``: anything else (not verified).

Exact types are used, not ``isinstance``: a subclass may override ``forward``.
"""

from collections.abc import Callable
from typing import NoReturn

from timm.layers import DropBlock2d, DropPath
from timm.layers import activations as timm_act
from timm.layers.attention import Attention as TimmAttention
from timm.layers.norm import LayerNorm as TimmLayerNorm
from timm.layers.norm_act import BatchNormAct2d
from timm.models.densenet import DenseBlock, DenseLayer, DenseTransition
from torch import nn

from medattn.errors import ConfigError
from medattn.explain.targets import TargetModel
from medattn.models.attention.base import AttentionLayer
from medattn.models.attention.cbam import CBAM, ChannelGate, MaxReduce, SpatialGate
from medattn.models.attention.control import MatchedBottleneck
from medattn.models.attention.eca import EfficientChannelAttention
from medattn.models.attention.gc import ChannelLayerNorm, GlobalContext
from medattn.models.attention.local_attn import EmbeddedLocalAttention, LocalSelfAttention
from medattn.models.attention.mldam import MLDAM, MLDAMGoncalves2021
from medattn.models.attention.nonlocal_attn import NonLocalAttention
from medattn.models.attention.se import SqueezeExcite
from medattn.models.backbones import StagedCNN
from medattn.models.blocks import GatedSqueezeExcite, ResidualUnit
from medattn.models.factory import Classifier
from medattn.models.heads import FlattenHead, GapHead
from medattn.models.layers import Add, Multiply

ALTERNATIVES = "use saliency, integrated-gradients, gradcam or occlusion"

VERIFIED_COMPOSITES = frozenset(
    {
        nn.Sequential, nn.ModuleList, nn.ModuleDict, TargetModel, Classifier, StagedCNN, ResidualUnit,
        GatedSqueezeExcite, GapHead, FlattenHead, SqueezeExcite, EfficientChannelAttention, CBAM, ChannelGate,
        SpatialGate, DenseBlock, DenseLayer, DenseTransition, MatchedBottleneck,
    }
)  # fmt: skip
# Dropout, drop-path and drop-block are the identity in eval mode, which require_support enforces.
LINEAR = frozenset(
    {
        nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, BatchNormAct2d,
        nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
        nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, DropPath, DropBlock2d, nn.Flatten, Add,
    }
)  # fmt: skip
ELEMENTWISE = frozenset(
    {
        nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.CELU, nn.SELU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.SiLU,
        nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Mish, nn.Softsign, timm_act.Swish, timm_act.Mish,
        timm_act.Sigmoid, timm_act.Tanh, timm_act.HardSwish, timm_act.HardSigmoid, timm_act.HardMish, timm_act.GELU,
        timm_act.GELUTanh, timm_act.QuickGELU,
    }
)  # fmt: skip
MAX = frozenset(
    {
        nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
        MaxReduce,
    }
)  # fmt: skip
_SOFTMAX_PRODUCTS = "softmax-weighted products of activations"
_NORMALISES = "divides by statistics of its own input (layer normalisation)"
REFUSED: dict[type, str] = {
    NonLocalAttention: _SOFTMAX_PRODUCTS,
    GlobalContext: "softmax-weighted sum of activations (global context pooling)",
    LocalSelfAttention: _SOFTMAX_PRODUCTS + " (local self-attention)",
    EmbeddedLocalAttention: _SOFTMAX_PRODUCTS + " (embedded local self-attention)",
    MLDAM: _SOFTMAX_PRODUCTS + " (position and channel attention)",
    MLDAMGoncalves2021: _SOFTMAX_PRODUCTS + " and Gram-matrix products (position and channel attention)",
    TimmAttention: _SOFTMAX_PRODUCTS + " (self-attention)",
    nn.MultiheadAttention: _SOFTMAX_PRODUCTS + " (self-attention)",
    nn.Softmax: "softmax couples all its inputs",
    nn.LayerNorm: _NORMALISES,
    TimmLayerNorm: _NORMALISES,
    ChannelLayerNorm: _NORMALISES,
    nn.GroupNorm: _NORMALISES,
}
ATTENTION_TYPES = (AttentionLayer, TimmAttention, nn.MultiheadAttention)

Support = Callable[[nn.Module], "bool | str"]


def layer_kind(module: nn.Module) -> str:
    """``container``, ``linear``, ``elementwise``, ``max``, ``gate``, ``refused`` or ``unknown`` (see module doc)."""
    kind = type(module)
    for name, types in (
        ("refused", REFUSED),
        ("container", VERIFIED_COMPOSITES),
        ("linear", LINEAR),
        ("elementwise", ELEMENTWISE),
        ("max", MAX),
        ("gate", {Multiply}),
    ):
        if kind in types:
            return name
    return "unknown"


def classifier_of(model: nn.Module) -> nn.Module:
    """The classifier inside a TargetModel (its names are the ones messages use), else the model itself."""
    return model.model if isinstance(model, TargetModel) else model


def unsupported_layer(model: nn.Module, method: str, supported: Support) -> tuple[str, str] | None:
    """The first layer ``method`` cannot handle, as ``(name, reason)``, or None when it handles them all.

    Args:
        model: a TargetModel (names are relative to its classifier) or a plain module.
        method: the method's name, for the generic reason.
        supported: ``supported(module)`` is True when the method handles the module itself (its
            children are checked on their own), a string saying why not, or False for "no rule".

    In-place modules are always unsupported (they overwrite the input a rule needs). Attention
    modules are reported before other layers, so a ViT is refused for its self-attention rather
    than for the LayerNorm in front of it.
    """
    rejected = []
    for name, module in classifier_of(model).named_modules():
        if getattr(module, "inplace", False) is True:
            verdict = "in-place operation overwrites the input the rule needs"
        else:
            verdict = supported(module)
        if verdict is not True:
            reason = verdict or f"no {method} rule for this layer type (its forward is not verified)"
            rejected.append((name, module, reason))
    if not rejected:
        return None
    attention = [r for r in rejected if isinstance(r[1], ATTENTION_TYPES)]
    name, _, reason = (attention or rejected)[0]
    return name, reason


def refuse(method: str, name: str, module: nn.Module, reason: str) -> NoReturn:
    """Raise the one-line ConfigError telling the user which layer ``method`` cannot handle and what to use."""
    raise ConfigError(
        f"{method} cannot handle layer '{name or '<model>'}' ({type(module).__name__}: {reason}); {ALTERNATIVES}"
    )


def require_support(model: nn.Module, method: str, supported: Support) -> None:
    """Refuse (ConfigError) a model in training mode or with a layer ``method`` cannot handle.

    Runs before any forward pass, so refusing is cheap.
    """
    classifier = classifier_of(model)
    training = [name for name, m in classifier.named_modules() if m.training]
    if training:
        where = f"layer '{training[0]}'" if training[0] else "the model"
        raise ConfigError(
            f"{method} needs the model in eval mode ({where} is in training mode, where BatchNorm uses batch "
            "statistics and dropout is random); call model.eval() first"
        )
    found = unsupported_layer(model, method, supported)
    if found is not None:
        name, reason = found
        refuse(method, name, classifier.get_submodule(name), reason)


def rule_based_support(module: nn.Module) -> bool | str:
    """What both DeepLIFT and LRP handle: every kind but ``refused`` and ``unknown`` (see module doc)."""
    kind = layer_kind(module)
    if kind == "refused":
        return REFUSED[type(module)]
    return kind != "unknown"
