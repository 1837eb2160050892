"""Explainer-friendly residual blocks built from timm's blocks (same submodules, same weights).

timm writes residual additions inline (``x += shortcut``) and gates as ``x * gate``. Attribution
rules need them as modules, and the ``block`` placement needs a slot for attention right before
the addition, so timm's ResNet and EfficientNet blocks are rebuilt as ``ResidualUnit``s that
adopt the original submodules.
"""

from collections import OrderedDict

import torch
from timm.models._efficientnet_blocks import DepthwiseSeparableConv, InvertedResidual
from timm.models._efficientnet_blocks import SqueezeExcite as TimmSqueezeExcite
from timm.models.resnet import BasicBlock, Bottleneck
from torch import nn

from medattn.models.layers import Add, Multiply

# Forward order of each timm block's residual branch, read from timm's forward().
BRANCH_ORDER = {
    BasicBlock: ("conv1", "bn1", "drop_block", "act1", "aa", "conv2", "bn2"),
    Bottleneck: ("conv1", "bn1", "act1", "conv2", "bn2", "drop_block", "act2", "aa", "conv3", "bn3"),
    InvertedResidual: ("conv_s2d", "bn_s2d", "conv_pw", "bn1", "conv_dw", "bn2", "aa", "se", "conv_pwl", "bn3"),
    DepthwiseSeparableConv: ("conv_s2d", "bn_s2d", "conv_dw", "bn1", "aa", "se", "conv_pw", "bn2"),
}
OUTPUT_ACT = {BasicBlock: "act2", Bottleneck: "act3"}


class ResidualUnit(nn.Module):
    """``act(add(drop_path(attn(branch(x))), shortcut(x)))``; no addition when ``shortcut`` is None.

    Attributes:
        branch: the residual branch (timm's layers, timm's names).
        attn: attention inserted before the addition (``block`` placement); Identity by default.
    """

    def __init__(self, branch: nn.Sequential, shortcut: nn.Module | None, drop_path: nn.Module, act: nn.Module):
        super().__init__()
        self.branch = branch
        self.attn = nn.Identity()
        self.drop_path = drop_path
        self.shortcut = shortcut
        self.add = Add() if shortcut is not None else None
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop_path(self.attn(self.branch(x)))
        if self.add is not None:
            y = self.add(y, self.shortcut(x))
        return self.act(y)


class GatedSqueezeExcite(nn.Module):
    """EfficientNet's own SE layer with the gate multiplication as a module (weights unchanged)."""

    def __init__(self, se: TimmSqueezeExcite):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv_reduce, self.act1, self.conv_expand, self.gate = se.conv_reduce, se.act1, se.conv_expand, se.gate
        self.scale = Multiply()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale(x, self.gate(self.conv_expand(self.act1(self.conv_reduce(self.pool(x))))))


def residual_unit_from_timm(block: nn.Module) -> ResidualUnit:
    """Rebuild one timm ResNet/EfficientNet block as a ResidualUnit computing the same function."""
    kind = type(block)
    parts = OrderedDict((n, getattr(block, n)) for n in BRANCH_ORDER[kind] if getattr(block, n, None) is not None)
    if isinstance(parts.get("se"), TimmSqueezeExcite):
        parts["se"] = GatedSqueezeExcite(parts["se"])
    if kind in OUTPUT_ACT:
        shortcut = block.downsample if block.downsample is not None else nn.Identity()
        act = getattr(block, OUTPUT_ACT[kind])
    else:
        shortcut = nn.Identity() if block.has_skip else None
        act = nn.Identity()
    drop_path = block.drop_path if block.drop_path is not None else nn.Identity()
    return ResidualUnit(nn.Sequential(parts), shortcut, drop_path, act)


def convert_residual_blocks(module: nn.Module) -> nn.Module:
    """Replace every supported timm block under ``module`` by an equivalent ResidualUnit, in place."""
    for name, child in module.named_children():
        if type(child) in BRANCH_ORDER:
            setattr(module, name, residual_unit_from_timm(child))
        else:
            convert_residual_blocks(child)
    return module
