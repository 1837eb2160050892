"""Local self-attention "LA" (Ramachandran et al., NeurIPS 2019) and its embedded form "ELA"
(Piater et al. 2024, seed 004)."""

import torch
import torch.nn.functional as F
from torch import nn

from medattn.models.attention.base import AttentionLayer, register_attention
from medattn.models.layers import Add


@register_attention(
    "la",
    placements=("replace-last",),
    reference="Ramachandran et al. 2019, Stand-Alone Self-Attention in Vision Models, NeurIPS",
)
class LocalSelfAttention(AttentionLayer):
    """Multi-head attention of each position over its k x k neighbourhood, with relative positions.

    Queries, keys and values are bias-free 1x1 convolutions; the logit of neighbour (a, b) for
    query (i, j) is ``q . (k_ab + r_{a-i, b-j})`` where the relative embedding concatenates a row
    embedding and a column embedding of ``out_channels / 2`` each (paper section 2.2). Padded
    neighbours outside the image are masked out of the softmax. A stride s computes queries on
    every s-th position only, like a strided convolution, so the layer can stand in for one.

    Args:
        in_channels, out_channels: as the convolution it replaces.
        kernel_size: neighbourhood size k (7 in the paper).
        stride: output stride.
        heads: attention heads (8 in the paper); must divide ``out_channels``.

    The relative embeddings ``rel_h``/``rel_w`` are free parameters, which layer-summary tools (and
    hence seed 004's Table 1) do not count.
    """

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int = 7, stride: int = 1, heads: int = 8):
        super().__init__()
        if out_channels % heads or out_channels % 2:
            raise ValueError(f"LA: out_channels={out_channels} must be even and divisible by heads={heads}")
        self.kernel_size, self.stride, self.heads = kernel_size, stride, heads
        self.query = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.key = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.value = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.rel_h = nn.Parameter(torch.randn(out_channels // 2, kernel_size) * 0.02)
        self.rel_w = nn.Parameter(torch.randn(out_channels // 2, kernel_size) * 0.02)
        self.attn_softmax = nn.Softmax(dim=2)

    def relative_embedding(self) -> torch.Tensor:
        """[C_out, k*k]: row embedding for the first half of the channels, column for the second."""
        k = self.kernel_size
        rows = self.rel_h[:, :, None].expand(-1, k, k)
        cols = self.rel_w[:, None, :].expand(-1, k, k)
        return torch.cat([rows, cols], dim=0).reshape(-1, k * k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        k, s, heads = self.kernel_size, self.stride, self.heads
        q = self.query(x[:, :, ::s, ::s])
        out_h, out_w = q.shape[-2:]
        unfold = dict(kernel_size=k, padding=k // 2, stride=s)
        keys = F.unfold(self.key(x), **unfold).reshape(b, heads, -1, k * k, out_h * out_w)
        values = F.unfold(self.value(x), **unfold).reshape(b, heads, -1, k * k, out_h * out_w)
        rel = self.relative_embedding().reshape(heads, -1, k * k, 1)
        logits = ((keys + rel) * q.reshape(b, heads, -1, 1, out_h * out_w)).sum(2)  # B, heads, k*k, L
        inside = F.unfold(x.new_ones(1, 1, h, w), **unfold).reshape(1, 1, k * k, -1) > 0
        attn = self.attn_softmax(logits.masked_fill(~inside, float("-inf")))
        out = (attn.unsqueeze(2) * values).sum(3)  # B, heads, C/heads, L
        return out.reshape(b, -1, out_h, out_w)


@register_attention("ela", placements=("replace-last",), reference="Piater et al. 2024 (seed 004), section 2.2")
class EmbeddedLocalAttention(AttentionLayer):
    """``original(x) + P(LA(x))`` with P a zero-initialised 1x1 convolution (with bias).

    The original layer (a convolution, or a whole MBConv block for EfficientNet) keeps its
    pre-trained weights, so the network is unchanged at initialisation. Its parameters are not
    counted as attention parameters.
    """

    def __init__(self, original: nn.Module, in_channels: int, out_channels: int, *, stride: int = 1, **la_options):
        super().__init__()
        self.original = original
        self.local = LocalSelfAttention(in_channels, out_channels, stride=stride, **la_options)
        self.proj = nn.Conv2d(out_channels, out_channels, 1)
        self.residual = Add()
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(self.original(x), self.proj(self.local(x)))
