"""Parameter and compute counts, under the counting conventions the papers used."""

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from medattn.models.attention import AttentionLayer
from medattn.models.factory import Classifier


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Every parameter (each shared tensor once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_layer_params(model: nn.Module) -> int:
    """Parameters held as ``weight``/``bias`` of some layer, as layer-summary tools count them.

    Free-standing parameters that belong to no layer (a ViT's position embedding and class token,
    local attention's relative-position embeddings) are left out; this is how the counts of seeds
    001 and 004 were made.
    """
    seen, total = set(), 0
    for module in model.modules():
        for name in ("weight", "bias"):
            p = module._parameters.get(name)
            if p is not None and id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
    return total


def count_macs(model: nn.Module, image_size: int) -> int:
    """Multiply-accumulates of one forward pass on one image (matmuls and convolutions)."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, image_size, image_size))
    model.train(was_training)
    return counter.get_total_flops() // 2


def attention_modules(model: nn.Module) -> list[tuple[str, AttentionLayer]]:
    """The outermost attention modules of a model, with their names."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, AttentionLayer) and not any(name.startswith(outer + ".") for outer, _ in found):
            found.append((name, module))
    return found


def model_info(model: Classifier, *, macs: bool = True) -> dict:
    """The facts ``medattn model-info`` reports about a built model."""
    spec = model.spec
    params = count_params(model)
    reported = count_layer_params(model) if model.param_convention == "layer-summary" else params
    names = set(model.attention_parameters)
    return {
        "backbone": spec.backbone,
        "attention": spec.attention,
        "placement": spec.placement,
        "head": spec.head,
        "num_classes": spec.num_classes,
        "image_size": spec.image_size,
        "preset": spec.preset,
        "param_convention": model.param_convention,
        "params": params,
        "params_reported": reported,
        "trainable_params": count_params(model, trainable_only=True),
        "attention_params": sum(p.numel() for n, p in model.named_parameters() if n in names),
        "attention_modules": len(attention_modules(model)),
        "macs": count_macs(model, spec.image_size) if macs else None,
        "pretrained": bool(spec.pretrained),
        "weights_loaded": model.weights_report is not None,
    }
