"""Tiny explainer-friendly building blocks.

Residual additions and multiplicative gates are modules rather than inline operators so that
attribution methods (captum's DeepLIFT, zennit's LRP) can attach rules to them, and no module is
ever reused within one forward pass.
"""

import torch
from torch import nn


class Add(nn.Module):
    """Element-wise sum of two tensors (a residual addition)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class Multiply(nn.Module):
    """Element-wise product of features and a (broadcast) gate."""

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return x * gate


def reduced_channels(channels: int, rd_ratio: float, rd_channels: int | None, divisor: int = 1) -> int:
    """Bottleneck width: ``rd_channels`` if given, else ``channels * rd_ratio`` rounded to ``divisor``."""
    if rd_channels:
        return int(rd_channels)
    return max(divisor, int(round(channels * rd_ratio / divisor)) * divisor)


def disable_inplace(module: nn.Module) -> nn.Module:
    """Switch every ``inplace`` activation/dropout in ``module`` to out-of-place (explainers need it)."""
    for sub in module.modules():
        if getattr(sub, "inplace", False) is True:
            sub.inplace = False
    return module
