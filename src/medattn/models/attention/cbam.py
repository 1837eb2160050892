"""Convolutional Block Attention Module (Woo et al., ECCV 2018): channel gate, then spatial gate."""

import torch
from torch import nn

from medattn.models.attention.base import AttentionLayer, register_attention
from medattn.models.layers import Multiply, reduced_channels


class MaxReduce(nn.Module):
    """``x.amax(dims, keepdim=True)`` as a module, so attribution methods can attach a rule to the max
    (DeepLIFT needs one: the plain gradient of a max breaks summation-to-delta)."""

    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(self.dims, keepdim=True)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class ChannelGate(nn.Module):
    """``MLP(avgpool(x)) + MLP(maxpool(x))`` (the gate's logits; the sigmoid follows in CBAM).

    The avg- and max-pooled descriptors are placed side by side along the width axis ([B, C, 1, 2]),
    the shared 1x1-convolution MLP runs once on both columns, and the columns are summed: exactly
    timm's and the paper's function, but the MLP is called once per forward (timm calls it twice,
    which breaks captum's DeepLIFT) and the batch axis is left alone (DeepLIFT runs inputs and
    baselines as the two halves of one batch; stacking along it would mix them).
    """

    def __init__(self, channels: int, rd: int, *, bias: bool, act_layer: type[nn.Module]):
        super().__init__()
        self.max_pool = MaxReduce((2, 3))
        self.fc1 = nn.Conv2d(channels, rd, 1, bias=bias)
        self.act = act_layer()
        self.fc2 = nn.Conv2d(rd, channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean((2, 3), keepdim=True), self.max_pool(x)], dim=3)  # B, C, 1, 2
        return self.fc2(self.act(self.fc1(pooled))).sum(3, keepdim=True)


class SpatialGate(nn.Module):
    """``conv7x7([mean_c(x); max_c(x)])`` followed by BatchNorm, as in the official CBAM code."""

    def __init__(self, kernel_size: int):
        super().__init__()
        self.max_pool = MaxReduce((1,))
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), self.max_pool(x)], dim=1)
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
