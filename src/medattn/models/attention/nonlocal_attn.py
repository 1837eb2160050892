"""Global (non-local) self-attention, "GA" in seed 004 (Wang et al., CVPR 2018)."""

import torch
from torch import nn

from medattn.models.attention.base import AttentionLayer, register_attention
from medattn.models.layers import Add, reduced_channels


@register_attention(
    "ga",
    placements=("stage",),
    reference="Wang et al. 2018, Non-local Neural Networks, CVPR; Piater et al. 2024",
    default_strides=(4, 8),  # ResNet stages 1-2, EfficientNet blocks 2-3 (Wang et al.; seed 004)
)
class NonLocalAttention(AttentionLayer):
    """Embedded-Gaussian non-local block: ``x + BN(W softmax(theta(x)^T phi(x)) g(x))``.

    theta, phi and g are 1x1 convolutions to ``channels * rd_ratio`` (1/2 as in Wang et al.) with
    biases, W maps back to ``channels`` and is followed by BatchNorm, which is what the parameter
    counts of seed 004 (Table 1, e.g. EfficientNet-B0 +GA = +0.12 %) require.

    Deviation: seed 004 says the W convolution is zero-initialised; we zero the BatchNorm scale
    instead, as Wang et al.'s released code and timm do. Both make the block the identity at
    initialisation (so inserting it keeps a pre-trained network's function), but a zero conv in
    front of a train-mode BatchNorm multiplies the first gradient by 1/sqrt(eps).

    The softmax output (``attn_softmax``) is the native attention map ([B, HW, HW]).
    """

    def __init__(self, channels: int, *, rd_ratio: float = 1 / 2, rd_channels: int | None = None):
        super().__init__()
        rd = reduced_channels(channels, rd_ratio, rd_channels)
        self.theta = nn.Conv2d(channels, rd, 1)
        self.phi = nn.Conv2d(channels, rd, 1)
        self.g = nn.Conv2d(channels, rd, 1)
        self.attn_softmax = nn.Softmax(dim=-1)
        self.out = nn.Conv2d(rd, channels, 1)
        self.norm = nn.BatchNorm2d(channels)
        self.residual = Add()
        nn.init.zeros_(self.norm.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        query = self.theta(x).flatten(2).transpose(1, 2)  # B, HW, rd
        key = self.phi(x).flatten(2)  # B, rd, HW
        value = self.g(x).flatten(2).transpose(1, 2)  # B, HW, rd
        attn = self.attn_softmax(torch.bmm(query, key))  # B, HW(query), HW(key)
        y = torch.bmm(attn, value).transpose(1, 2).reshape(b, -1, h, w)
        return self.residual(x, self.norm(self.out(y)))
