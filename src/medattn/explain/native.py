"""Native attention maps: what the attention modules themselves computed, read from their outputs.

- CBAM (Woo et al. 2018): the spatial gate ``sigmoid(BN(conv([mean_c; max_c])))`` [B, 1, h, w].
- GA / non-local (Wang et al. 2018): the softmax affinity [B, HW_query, HW_key] averaged over query
  positions, i.e. how much attention each position receives, as seed 004 visualises it.
- GC (Cao et al. 2019): the softmax context-pooling weights over positions [B, 1, HW].
- MLDAM (Mishra et al. 2019, and the seed-000 variant): the position-attention matrix averaged
  over query positions (the seed-000 variant normalises over all pairs; averaging gives the same
  map up to a constant).
- ViT/DeiT: attention rollout (Abnar & Zuidema 2020): per block, heads averaged, the identity added
  for the residual path (``0.5 A + 0.5 I``) and rows renormalised; the blocks are multiplied and
  the class token's row over the patch tokens is the map.

All maps are class-agnostic (the target is ignored), upsampled bilinearly to the input size.
SE and ECA gate channels and LA/ELA attend within a window, so they have no spatial map.
"""

from contextlib import ExitStack, contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from medattn.errors import ConfigError
from medattn.models.attention.cbam import CBAM
from medattn.models.attention.gc import GlobalContext
from medattn.models.attention.mldam import MLDAM, MLDAMGoncalves2021
from medattn.models.attention.nonlocal_attn import NonLocalAttention

# Module type -> the submodule whose output is the map (the module input gives the grid; MLDAM: its last tap).
_SOURCES = {
    CBAM: "spatial_gate",
    NonLocalAttention: "attn_softmax",
    GlobalContext: "attn_softmax",
    MLDAM: "position_softmax",
    MLDAMGoncalves2021: "position_softmax",
}


def attention_layers(model: nn.Module) -> list[str]:
    """Names of the modules with a native spatial attention map, in forward order."""
    return [name for name, module in model.named_modules() if type(module) in _SOURCES]


def _to_grid(output: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Any native output -> [B, 1, h, w]: the attention each position receives."""
    b, n = output.shape[0], grid[0] * grid[1]
    if output.ndim == 4:  # CBAM's spatial gate
        return output
    if output.numel() == b * n:  # GC's pooling weights [B, 1, HW]
        return output.reshape(b, 1, *grid)
    return output.reshape(b, n, n).mean(1).reshape(b, 1, *grid)  # affinities, averaged over queries


@contextmanager
def _recording(module: nn.Module, source: str):
    store: dict[str, torch.Tensor] = {}

    def grid_hook(mod, inputs, output):
        first = inputs[0][-1] if isinstance(inputs[0], list) else inputs[0]
        store["grid"] = tuple(first.shape[-2:])

    def out_hook(mod, inputs, output):
        store["output"] = output.detach()

    with ExitStack() as stack:
        for handle in (
            module.register_forward_hook(grid_hook),
            getattr(module, source).register_forward_hook(out_hook),
        ):
            stack.callback(handle.remove)
        yield store


def attention_map(target_model: nn.Module, images: torch.Tensor, layer: str | None = None) -> torch.Tensor:
    """The native attention map [B, 1, H, W] of ``layer`` (default: the last attention module)."""
    model = target_model.model
    names = attention_layers(model)
    if not names:
        kinds = sorted({type(m).__name__ for m in model.modules() if "attention" in type(m).__module__})
        raise ConfigError(
            f"attention: the model has no native spatial attention map ({', '.join(kinds) or 'no attention'}); "
            "CBAM, GA, GC and MLDAM have one, ViT/DeiT use method 'rollout'"
        )
    name = layer or names[-1]
    if name not in names:
        raise ConfigError(f"attention: layer '{name}' has no native map; choose one of: {', '.join(names)}")
    module = dict(model.named_modules())[name]
    with _recording(module, _SOURCES[type(module)]) as store, torch.no_grad():
        target_model(images)
    maps = _to_grid(store["output"], store["grid"])
    return F.interpolate(maps.float(), size=images.shape[-2:], mode="bilinear", align_corners=False)


@contextmanager
def _vit_attention_probabilities(backbone: nn.Module):
    """Make timm's ViT blocks compute explicit attention probabilities and record them."""
    recorded: list[torch.Tensor] = []
    with ExitStack() as stack:
        for block in backbone.blocks:
            attn = block.attn
            fused = attn.fused_attn
            attn.fused_attn = False
            stack.callback(setattr, attn, "fused_attn", fused)
            handle = attn.attn_drop.register_forward_hook(lambda m, i, o: recorded.append(i[0].detach()))
            stack.callback(handle.remove)
        yield recorded


def attention_rollout(target_model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Attention rollout maps [B, 1, H, W] of a ViT/DeiT (Abnar & Zuidema 2020, mean over heads)."""
    backbone = target_model.model.backbone
    if not hasattr(backbone, "blocks"):
        raise ConfigError("rollout: needs a ViT/DeiT backbone; CNN attention maps come from method 'attention'")
    with _vit_attention_probabilities(backbone) as recorded, torch.no_grad():
        target_model(images)
    rollout = None
    for probs in recorded:
        a = probs.mean(1)  # B, N, N
        a = 0.5 * a + 0.5 * torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        a = a / a.sum(-1, keepdim=True)
        rollout = a if rollout is None else a @ rollout
    prefix = backbone.num_prefix_tokens
    patch = backbone.patch_embed.patch_size
    grid = (images.shape[-2] // patch[0], images.shape[-1] // patch[1])
    maps = rollout[:, 0, prefix:].reshape(-1, 1, *grid)
    return F.interpolate(maps, size=images.shape[-2:], mode="bilinear", align_corners=False)
