"""Multi-level dual-attention head (Mishra et al., IEEE SPL 2019), in two forms.

Both heads receive the feature maps of several backbone stages (``taps``), average-pool each to
the grid of the last one and repeat its channels to the last one's channel count, and add them
into one multi-level map F [B, C, H, W]. A position branch (affinity between positions) and a
channel branch (affinity between channels) then re-weight F.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from medattn.models.attention.base import AttentionLayer, register_attention

REFERENCE = "Mishra et al. 2019, Multi-Level Dual-Attention Based CNN for Macular OCT Classification, IEEE SPL"


def multi_level_map(taps: list[torch.Tensor]) -> torch.Tensor:
    """Pool every tap to the last tap's grid, repeat its channels to match, and sum them."""
    last = taps[-1]
    channels, grid = last.shape[1], last.shape[-2:]
    total = last
    for tap in taps[:-1]:
        tap = F.adaptive_avg_pool2d(tap, grid)
        repeats = math.ceil(channels / tap.shape[1])
        total = total + tap.repeat(1, repeats, 1, 1)[:, :channels]
    return total


@register_attention("mldam", placements=("head",), reference=REFERENCE)
class MLDAM(AttentionLayer):
    """MLDAM as described by Mishra et al.: row-wise softmax, per-position layer norm, GAP.

    Position attention ``A = softmax_rows(F^T F)`` (every query position's weights over key
    positions sum to one), channel attention ``softmax_rows(F F^T)``; each branch output is layer-
    normalised over channels at every position, the branches are summed, globally average-pooled
    and classified by one linear layer, so the head works at any input size.
    """

    def __init__(self, channels: list[int], grid: tuple[int, int], num_classes: int):
        super().__init__()
        c = channels[-1]
        self.position_softmax = nn.Softmax(dim=-1)
        self.channel_softmax = nn.Softmax(dim=-1)
        self.position_norm = nn.LayerNorm(c)
        self.channel_norm = nn.LayerNorm(c)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, taps: list[torch.Tensor]) -> torch.Tensor:
        f = multi_level_map(taps).flatten(2)  # B, C, N
        position = torch.bmm(f, self.position_softmax(torch.bmm(f.transpose(1, 2), f)).transpose(1, 2))
        channel = torch.bmm(self.channel_softmax(torch.bmm(f, f.transpose(1, 2))), f)
        fused = self.position_norm(position.transpose(1, 2)) + self.channel_norm(channel.transpose(1, 2))
        return self.fc(fused.mean(1))


@register_attention("mldam-goncalves2021", placements=("head",), reference=REFERENCE + "; adapted in seed 000/003")
class MLDAMGoncalves2021(AttentionLayer):
    """The MLDAM head as adapted by Goncalves & Cardoso 2021 (seed 000, code of seed 003).

    Position attention with one softmax over the whole flattened [N x N] affinity matrix; channel
    attention with the unnormalised Gram matrix ``F F^T``; ReLU + BatchNorm per branch; the two
    branches averaged, flattened, and classified by ``Linear(C*HW, C) - ReLU - Dropout(0.25) -
    Linear(C, C/2) - ReLU - Dropout(0.25) - Linear(C/2, K)``. The first linear layer depends on
    the feature grid, so the head is built for the model's input size.
    """

    def __init__(self, channels: list[int], grid: tuple[int, int], num_classes: int):
        super().__init__()
        c = channels[-1]
        self.position_softmax = nn.Softmax(dim=-1)
        self.position_act, self.channel_act = nn.ReLU(), nn.ReLU()
        self.position_norm, self.channel_norm = nn.BatchNorm2d(c), nn.BatchNorm2d(c)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * grid[0] * grid[1], c),
            nn.ReLU(),
            nn.Dropout(0.25),
            nn.Linear(c, c // 2),
            nn.ReLU(),
            nn.Dropout(0.25),
            nn.Linear(c // 2, num_classes),
        )

    def forward(self, taps: list[torch.Tensor]) -> torch.Tensor:
        fmap = multi_level_map(taps)
        b, c, h, w = fmap.shape
        f = fmap.flatten(2)
        affinity = torch.bmm(f.transpose(1, 2), f).flatten(1)  # B, N*N
        attn = self.position_softmax(affinity).reshape(b, h * w, h * w)
        position = torch.bmm(f, attn.transpose(1, 2)).reshape(b, c, h, w)
        channel = torch.bmm(torch.bmm(f, f.transpose(1, 2)), f).reshape(b, c, h, w)
        position = self.position_norm(self.position_act(position))
        channel = self.channel_norm(self.channel_act(channel))
        return self.classifier((position + channel) / 2)
