"""Squeeze-and-Excitation (Hu et al., CVPR 2018, "Squeeze-and-Excitation Networks")."""

import torch
from torch import nn

from medattn.models.attention.base import AttentionLayer, register_attention
from medattn.models.layers import Multiply, reduced_channels


@register_attention(
    "se", placements=("block", "stage"), reference="Hu et al. 2018, Squeeze-and-Excitation Networks, CVPR"
)
class SqueezeExcite(AttentionLayer):
    """Channel gate ``x * sigmoid(W2 act(W1 GAP(x)))``.

    The two fully-connected layers are 1x1 convolutions (same function and parameters as Linear
    layers, and the layout timm uses, so timm's weights copy over unchanged).

    Args:
        channels: input (= output) channels.
        rd_ratio: bottleneck ratio, 1/16 in the paper.
        rd_channels: explicit bottleneck width, overrides ``rd_ratio``.
        bias: biases in the two FC layers. Hu et al. use biases; the SE models of the
            Goncalves et al. 2022 survey (seed 001) have none, which its parameter counts prove.
        act_layer: activation between the FC layers.
        gate_layer: gating non-linearity.
    """

    def __init__(
        self,
        channels: int,
        *,
        rd_ratio: float = 1 / 16,
        rd_channels: int | None = None,
        bias: bool = True,
        act_layer: type[nn.Module] = nn.ReLU,
        gate_layer: type[nn.Module] = nn.Sigmoid,
    ):
        super().__init__()
        rd = reduced_channels(channels, rd_ratio, rd_channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, rd, 1, bias=bias)
        self.act = act_layer()
        self.fc2 = nn.Conv2d(rd, channels, 1, bias=bias)
        self.gate = gate_layer()
        self.scale = Multiply()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale(x, self.gate(self.fc2(self.act(self.fc1(self.pool(x))))))
