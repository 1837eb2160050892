"""Grad-CAM (Selvaraju et al. 2017) for CNN feature maps and ViT token grids, and Guided Grad-CAM.

The target layer defaults to the backbone's last stage (the last convolutional feature map, as in
seeds 002 and 004) and, for ViT/DeiT, to the last block's first LayerNorm: the tokens there still
reach the class token through that block's attention, whereas after the last block only the class
token carries gradient. Token outputs [B, N, C] lose their prefix (class/distillation) tokens and
are reshaped to the patch grid, so no user-written reshape function is needed.
"""

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from medattn.errors import ConfigError


def default_layer_name(model: nn.Module) -> str:
    """Name (relative to the classifier) of the default Grad-CAM layer."""
    backbone = model.backbone
    if hasattr(backbone, "stages"):
        return f"backbone.stages.{len(backbone.stages) - 1}"
    if hasattr(backbone, "blocks"):
        return f"backbone.blocks.{len(backbone.blocks) - 1}.norm1"
    raise ConfigError(f"gradcam: no default layer for {type(backbone).__name__}; pass layer=NAME")


def find_layer(model: nn.Module, name: str | None) -> tuple[str, nn.Module]:
    """The named module of the classifier (default layer when ``name`` is None)."""
    name = name or default_layer_name(model)
    modules = dict(model.named_modules())
    if name not in modules:
        close = [n for n in modules if n.startswith(name.rsplit(".", 1)[0])][:5]
        raise ConfigError(f"layer '{name}' is not a module of the model; e.g. {', '.join(close) or 'backbone'}")
    return name, modules[name]


@contextmanager
def capture(layer: nn.Module):
    """Record the layer's output during the forward pass; the hook goes in every case."""
    store: dict[str, torch.Tensor] = {}

    def hook(module, inputs, output):
        if isinstance(output, (tuple, list)):
            raise ConfigError(f"gradcam: layer {type(module).__name__} returns several tensors; choose another layer")
        store["activation"] = output

    handle = layer.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def tokens_to_grid(tokens: torch.Tensor, model: nn.Module, image_shape: torch.Size) -> torch.Tensor:
    """ViT tokens [B, N, C] -> feature map [B, C, h, w] on the patch grid (prefix tokens dropped)."""
    backbone = model.backbone
    patch = backbone.patch_embed.patch_size
    grid = (image_shape[-2] // patch[0], image_shape[-1] // patch[1])
    prefix = tokens.shape[1] - grid[0] * grid[1]
    if prefix < 0 or prefix != getattr(backbone, "num_prefix_tokens", prefix):
        raise ConfigError(f"gradcam: {tokens.shape[1]} tokens do not fit a {grid[0]}x{grid[1]} patch grid")
    return tokens[:, prefix:].transpose(1, 2).reshape(tokens.shape[0], -1, *grid)


def gradcam(target_model: nn.Module, images: torch.Tensor, targets: torch.Tensor, layer: str | None = None,
            relu: bool = True) -> torch.Tensor:  # fmt: skip
    """Grad-CAM maps [B, 1, H, W] at input resolution (bilinear upsampling).

    ``cam = ReLU(sum_c mean_ij(dy/dA_cij) * A_c)`` on the layer output A; ``relu=False`` keeps the
    signed map (Selvaraju et al. apply the ReLU to show positive evidence only).
    """
    _, module = find_layer(target_model.model, layer)
    images = images.detach().requires_grad_(True)
    with capture(module) as store:
        outputs = target_model(images)
        score = outputs.gather(1, targets.to(outputs.device).view(-1, 1)).sum()
    activation = store["activation"]
    # autograd.grad, not backward(): only the one gradient needed, and no parameter .grad left behind
    (gradient,) = torch.autograd.grad(score, activation, allow_unused=True) if activation.requires_grad else (None,)
    if gradient is None:
        raise ConfigError(f"gradcam: layer '{layer or default_layer_name(target_model.model)}' gets no gradient")
    activation = activation.detach()
    if activation.ndim == 3:
        activation = tokens_to_grid(activation, target_model.model, images.shape)
        gradient = tokens_to_grid(gradient, target_model.model, images.shape)
    if activation.ndim != 4:
        raise ConfigError(f"gradcam: layer output has shape {tuple(activation.shape)}; need a feature map or tokens")
    weights = gradient.mean((2, 3), keepdim=True)
    cam = (weights * activation).sum(1, keepdim=True)
    cam = F.relu(cam) if relu else cam
    return F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)
