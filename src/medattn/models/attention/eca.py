"""Efficient Channel Attention (Wang et al., CVPR 2020, "ECA-Net")."""

import math

import torch
from torch import nn

from medattn.models.attention.base import AttentionLayer, register_attention
from medattn.models.layers import Multiply


def eca_kernel_size(channels: int, gamma: int = 2, beta: int = 1) -> int:
    """Adaptive 1-D kernel size ``|log2(C)/gamma + beta/gamma|`` rounded to the nearest odd number."""
    k = int(abs(math.log2(channels) / gamma + beta / gamma))
    return k if k % 2 else k + 1


@register_attention("eca", placements=("block", "stage"), reference="Wang et al. 2020, ECA-Net, CVPR")
class EfficientChannelAttention(AttentionLayer):
    """Channel gate from a 1-D convolution across the pooled channel descriptor (no bottleneck).

    Args:
        channels: input (= output) channels.
        kernel_size: 1-D kernel size; derived from ``channels`` (paper eq. 12) when None.
        gamma, beta: constants of the adaptive kernel size.
        gate_layer: gating non-linearity.
    """

    def __init__(
        self,
        channels: int,
        *,
        kernel_size: int | None = None,
        gamma: int = 2,
        beta: int = 1,
        gate_layer: type[nn.Module] = nn.Sigmoid,
    ):
        super().__init__()
        k = kernel_size or eca_kernel_size(channels, gamma, beta)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)
        self.gate = gate_layer()
        self.scale = Multiply()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(x).flatten(1).unsqueeze(1)  # B, 1, C
        y = self.conv(y).transpose(1, 2).unsqueeze(-1)  # B, C, 1, 1
        return self.scale(x, self.gate(y))
