"""Attention modules against timm's reference implementations and hand-written formulas."""

import pytest
import torch
import torch.nn.functional as F
from timm.layers.cbam import CbamModule
from timm.layers.eca import EcaModule
from timm.layers.global_context import GlobalContext as TimmGlobalContext
from timm.layers.squeeze_excite import SEModule
from torch import nn

from medattn.models.attention.cbam import CBAM
from medattn.models.attention.eca import EfficientChannelAttention, eca_kernel_size
from medattn.models.attention.gc import GlobalContext
from medattn.models.attention.local_attn import EmbeddedLocalAttention, LocalSelfAttention
from medattn.models.attention.mldam import MLDAM, MLDAMGoncalves2021, multi_level_map
from medattn.models.attention.nonlocal_attn import NonLocalAttention
from medattn.models.attention.se import SqueezeExcite


def _randomise(module: nn.Module) -> nn.Module:
    """Random weights everywhere (including zero-initialised gates) and random BN statistics."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.3)
        for name, b in module.named_buffers():
            if "running_var" in name:
                b.uniform_(0.5, 1.5)
            elif "running_mean" in name:
                b.normal_(0, 0.1)
    return module.eval()


def test_se_matches_timm():
    ours = _randomise(SqueezeExcite(32, rd_channels=8))
    ref = SEModule(32, rd_channels=8).eval()
    ref.load_state_dict({k: v for k, v in ours.state_dict().items()})
    x = torch.randn(2, 32, 5, 5)
    torch.testing.assert_close(ours(x), ref(x))


def test_se_without_bias_has_seed001_parameter_count():
    # SE without biases on 256 channels, r=16: 2 * 256 * 16 weights.
    assert sum(p.numel() for p in SqueezeExcite(256, bias=False).parameters()) == 8192


def test_cbam_matches_timm():
    ours = _randomise(CBAM(32, rd_channels=8, mlp_bias=False))
    ref = CbamModule(32, rd_channels=8).eval()
    state = ours.state_dict()
    ref.channel.fc1.weight.data.copy_(state["channel.fc1.weight"])
    ref.channel.fc2.weight.data.copy_(state["channel.fc2.weight"])
    ref.spatial.conv.conv.weight.data.copy_(state["spatial.conv.weight"])
    bn_state = {k.removeprefix("spatial.bn."): v for k, v in state.items() if "spatial.bn." in k}
    ref.spatial.conv.bn.load_state_dict(bn_state)
    x = torch.randn(2, 32, 6, 6)
    torch.testing.assert_close(ours(x), ref(x))


def test_cbam_calls_its_shared_mlp_once_per_forward():
    cbam = CBAM(16)
    calls = []
    handle = cbam.channel.fc1.register_forward_hook(lambda *_: calls.append(1))
    try:
        cbam(torch.randn(2, 16, 4, 4))
    finally:
        handle.remove()
    assert len(calls) == 1


def test_gc_matches_timm():
    ours = _randomise(GlobalContext(32, rd_channels=8))
    ref = TimmGlobalContext(32, fuse_add=True, fuse_scale=False, rd_channels=8).eval()
    s = ours.state_dict()
    ref.conv_attn.load_state_dict({"weight": s["conv_attn.weight"], "bias": s["conv_attn.bias"]})
    ref.mlp_add.fc1.load_state_dict({"weight": s["fc1.weight"], "bias": s["fc1.bias"]})
    ref.mlp_add.norm.load_state_dict({"weight": s["norm.weight"], "bias": s["norm.bias"]})
    ref.mlp_add.fc2.load_state_dict({"weight": s["fc2.weight"], "bias": s["fc2.bias"]})
    x = torch.randn(2, 32, 5, 7)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-4)


def test_gc_is_identity_at_initialisation():
    x = torch.randn(2, 16, 4, 4)
    torch.testing.assert_close(GlobalContext(16).eval()(x), x)


@pytest.mark.parametrize("channels, expected", [(64, 3), (256, 5), (512, 5), (2048, 7)])
def test_eca_kernel_size_follows_paper(channels, expected):
    assert eca_kernel_size(channels) == expected


def test_eca_matches_timm():
    ours = _randomise(EfficientChannelAttention(64))
    ref = EcaModule(64).eval()
    ref.conv.weight.data.copy_(ours.conv.weight)
    x = torch.randn(2, 64, 3, 3)
    torch.testing.assert_close(ours(x), ref(x))


def test_nonlocal_matches_formula_and_starts_as_identity():
    block = NonLocalAttention(8).eval()
    x = torch.randn(2, 8, 3, 4)
    torch.testing.assert_close(block(x), x)
    _randomise(block)
    theta, phi, g = (m(x).flatten(2) for m in (block.theta, block.phi, block.g))  # B, C/2, N
    y = torch.stack([g[b] @ torch.softmax(theta[b].T @ phi[b], dim=-1).T for b in range(2)])
    expected = x + block.norm(block.out(y.reshape(2, 4, 3, 4)))
    torch.testing.assert_close(block(x), expected)


def _naive_local_attention(la: LocalSelfAttention, x: torch.Tensor) -> torch.Tensor:
    """Pixel-by-pixel reference: each query attends to its in-image k x k neighbours."""
    k, s, heads = la.kernel_size, la.stride, la.heads
    q, key, v = la.query(x), la.key(x), la.value(x)
    rel = la.relative_embedding().reshape(-1, k, k)
    b, c, h, w = q.shape
    d = c // heads
    out = torch.zeros(b, c, (h + s - 1) // s, (w + s - 1) // s)
    for i in range(0, h, s):
        for j in range(0, w, s):
            for head in range(heads):
                ch = slice(head * d, (head + 1) * d)
                logits, values = [], []
                for a in range(i - k // 2, i + k // 2 + 1):
                    for bb in range(j - k // 2, j + k // 2 + 1):
                        if 0 <= a < h and 0 <= bb < w:
                            r = rel[ch, a - i + k // 2, bb - j + k // 2]
                            logits.append((q[:, ch, i, j] * (key[:, ch, a, bb] + r)).sum(1))
                            values.append(v[:, ch, a, bb])
                weights = torch.softmax(torch.stack(logits, 1), 1)
                out[:, ch, i // s, j // s] = (weights[:, :, None] * torch.stack(values, 1)).sum(1)
    return out


@pytest.mark.parametrize("stride", [1, 2])
def test_local_attention_matches_pixelwise_reference(stride):
    la = LocalSelfAttention(6, 8, kernel_size=3, stride=stride, heads=2)
    with torch.no_grad():
        la.rel_h.normal_()
        la.rel_w.normal_()
    x = torch.randn(2, 6, 5, 4)
    torch.testing.assert_close(la(x), _naive_local_attention(la, x), atol=1e-5, rtol=1e-4)


def test_local_attention_output_matches_strided_conv_shape():
    conv = nn.Conv2d(16, 32, 3, stride=2, padding=1)
    la = LocalSelfAttention(16, 32, stride=2)
    for size in (7, 8, 13):
        x = torch.randn(1, 16, size, size)
        assert la(x).shape == conv(x).shape


def test_embedded_local_attention_is_the_original_layer_at_initialisation():
    conv = nn.Conv2d(16, 32, 3, stride=2, padding=1)
    ela = EmbeddedLocalAttention(conv, 16, 32, stride=2)
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(ela(x), conv(x))


def test_multi_level_map_pools_and_repeats_channels():
    taps = [torch.ones(1, 2, 4, 4), 2 * torch.ones(1, 4, 2, 2), torch.zeros(1, 4, 2, 2)]
    fused = multi_level_map(taps)
    assert fused.shape == (1, 4, 2, 2)
    torch.testing.assert_close(fused, 3 * torch.ones(1, 4, 2, 2))


def test_mldam_goncalves2021_position_softmax_spans_the_whole_affinity_matrix():
    head = MLDAMGoncalves2021([8, 16, 16], (3, 3), 2).eval()
    seen = []
    handle = head.position_softmax.register_forward_hook(lambda m, i, o: seen.append(o))
    try:
        head([torch.randn(2, 8, 6, 6), torch.randn(2, 16, 3, 3), torch.randn(2, 16, 3, 3)])
    finally:
        handle.remove()
    assert seen[0].shape == (2, 81)
    torch.testing.assert_close(seen[0].sum(1), torch.ones(2))
    assert head.classifier[1].in_features == 16 * 9 and head.classifier[-1].out_features == 2


def test_mldam_position_softmax_is_row_wise_and_head_works_at_any_size():
    head = MLDAM([8, 16], (2, 2), 3).eval()
    seen = []
    handle = head.position_softmax.register_forward_hook(lambda m, i, o: seen.append(o))
    try:
        for size in (2, 5):
            assert head([torch.randn(2, 8, 2 * size, 2 * size), torch.randn(2, 16, size, size)]).shape == (2, 3)
    finally:
        handle.remove()
    torch.testing.assert_close(seen[-1].sum(-1), torch.ones(2, 25))


def test_mldam_channel_branch_uses_unnormalised_gram_matrix():
    head = MLDAMGoncalves2021([4], (2, 2), 2).eval()
    f = torch.randn(1, 4, 2, 2)
    flat = f.flatten(2)
    gram_out = torch.bmm(torch.bmm(flat, flat.transpose(1, 2)), flat).reshape(1, 4, 2, 2)
    captured = []
    handle = head.channel_act.register_forward_hook(lambda m, i, o: captured.append(i[0]))
    try:
        head([f])
    finally:
        handle.remove()
    torch.testing.assert_close(captured[0], gram_out)
    assert F.relu(gram_out).shape == (1, 4, 2, 2)
