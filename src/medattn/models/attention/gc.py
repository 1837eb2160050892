"""Global context block (Cao et al., ICCVW 2019, "GCNet"), channel-add fusion."""

import torch
from torch import nn

from medattn.models.attention.base import AttentionLayer, register_attention
from medattn.models.layers import Add, reduced_channels


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over channels of an ``[B, C, 1, 1]`` tensor (GCNet's ``LayerNorm([C, 1, 1])``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


@register_attention("gc", placements=("block", "stage"), reference="Cao et al. 2019, GCNet, ICCVW")
class GlobalContext(AttentionLayer):
    """``x + W2 ReLU(LN(W1 sum_j softmax(w_k x)_j x_j))``.

    Args:
        channels: input (= output) channels.
        rd_ratio: bottleneck ratio of the transform (1/16 as in the GCNet ImageNet experiments).
        rd_channels: explicit bottleneck width, overrides ``rd_ratio``.
        act_layer: activation in the transform.
        init_last_zero: zero-initialise the last 1x1 conv (GCNet's default), so the block starts as
            the identity.

    The softmax over positions (``attn_softmax`` output) is the native attention map.
    """

    def __init__(
        self,
        channels: int,
        *,
        rd_ratio: float = 1 / 16,
        rd_channels: int | None = None,
        act_layer: type[nn.Module] = nn.ReLU,
        init_last_zero: bool = True,
    ):
        super().__init__()
        rd = reduced_channels(channels, rd_ratio, rd_channels)
        self.conv_attn = nn.Conv2d(channels, 1, 1, bias=True)
        self.attn_softmax = nn.Softmax(dim=-1)
        self.fc1 = nn.Conv2d(channels, rd, 1)
        self.norm = ChannelLayerNorm(rd)
        self.act = act_layer()
        self.fc2 = nn.Conv2d(rd, channels, 1)
        self.fuse = Add()
        nn.init.kaiming_normal_(self.conv_attn.weight, mode="fan_in", nonlinearity="relu")
        if init_last_zero:
            nn.init.zeros_(self.fc2.weight)
            nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        weights = self.attn_softmax(self.conv_attn(x).reshape(b, 1, h * w))  # B, 1, HW
        context = torch.bmm(x.reshape(b, c, h * w), weights.transpose(1, 2)).reshape(b, c, 1, 1)
        return self.fuse(x, self.fc2(self.act(self.norm(self.fc1(context)))))
