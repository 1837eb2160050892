"""Convolutional Block Attention Module (Woo et al., ECCV 2018): channel gate, then spatial gate."""

import torch
from torch import nn

from medattn.models.attention.base import AttentionLayer, register_attention
from medattn.models.layers import Multiply, reduced_channels


class ChannelGate(nn.Module):
    """``sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))``.

    The shared MLP is applied once to the avg- and max-pooled descriptors stacked along the batch
    axis, so the module is called once per forward (timm's CBAM calls it twice, which breaks
    captum's DeepLIFT) while computing exactly the same function.
    """

    def __init__(self, channels: int, rd: int, *, bias: bool, act_layer: type[nn.Module]):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, rd, 1, bias=bias)
        self.act = act_layer()
        self.fc2 = nn.Conv2d(rd, channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)], dim=0)
        logits = self.fc2(self.act(self.fc1(pooled)))
        avg_logits, max_logits = logits.chunk(2, dim=0)
        return avg_logits + max_logits


class SpatialGate(nn.Module):
    """``conv7x7([mean_c(x); max_c(x)])`` followed by BatchNorm, as in the official CBAM code."""

    def __init__(self, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return self.bn(self.conv(pooled))


@register_attention("cbam", placements=("block", "stage"), reference="Woo et al. 2018, CBAM, ECCV")
class CBAM(AttentionLayer):
    """Channel attention followed by spatial attention, each a sigmoid gate.

    Args:
        channels: input (= output) channels.
        rd_ratio: channel-MLP bottleneck ratio (1/16 in the paper).
        rd_channels: explicit bottleneck width, overrides ``rd_ratio``.
        mlp_bias: biases in the channel MLP. The official code (nn.Linear) has them, and the CBAM
            parameter counts of seed 001 include them; timm's CbamModule defaults to none.
        spatial_kernel_size: kernel of the spatial-attention convolution (7).
        act_layer: activation inside the channel MLP.
        gate_layer: gating non-linearity (one instance per gate).

    The spatial gate map (``spatial_gate`` output after sigmoid) is the native attention map
    explainers read.
    """

    def __init__(
        self,
        channels: int,
        *,
        rd_ratio: float = 1 / 16,
        rd_channels: int | None = None,
        mlp_bias: bool = True,
        spatial_kernel_size: int = 7,
        act_layer: type[nn.Module] = nn.ReLU,
        gate_layer: type[nn.Module] = nn.Sigmoid,
    ):
        super().__init__()
        rd = reduced_channels(channels, rd_ratio, rd_channels)
        self.channel = ChannelGate(channels, rd, bias=mlp_bias, act_layer=act_layer)
        self.channel_gate = gate_layer()
        self.channel_scale = Multiply()
        self.spatial = SpatialGate(spatial_kernel_size)
        self.spatial_gate = gate_layer()
        self.spatial_scale = Multiply()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.channel_scale(x, self.channel_gate(self.channel(x)))
        return self.spatial_scale(x, self.spatial_gate(self.spatial(x)))
