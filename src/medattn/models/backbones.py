"""Backbones: timm models cut into stages, with explainer-friendly blocks.

A CNN backbone becomes a ``StagedCNN``: one ``nn.Sequential`` per entry of timm's
``feature_info`` (the stem counts as stage 0), so attention can be appended after any stage and
multi-level heads can read every stage's output without hooks.
"""

from collections import OrderedDict
from dataclasses import dataclass

import timm
import torch
from torch import nn

from medattn.errors import choose
from medattn.models.blocks import convert_residual_blocks
from medattn.models.layers import disable_inplace

HEAD_MODULES = {"global_pool", "fc", "classifier", "head", "head_drop", "pre_logits", "fc_norm", "head_dist"}


@dataclass(frozen=True)
class BackboneEntry:
    """A supported backbone.

    Attributes:
        timm_name: architecture name in timm.
        family: ``resnet``, ``densenet``, ``vgg``, ``efficientnet`` or ``vit``.
        placements: attention placements that make sense for it.
        stages: feature levels (indices into timm's feature_info) that ``stage`` placement uses by
            default, i.e. every stage after the stem.
        taps: feature levels a multi-level head (MLDAM) reads, the last being the final map.
    """

    timm_name: str
    family: str
    placements: tuple[str, ...]
    stages: tuple[int, ...] = ()
    taps: tuple[int, ...] = ()


CNN_PLACEMENTS = ("block", "stage", "replace-last", "head")
BACKBONES: dict[str, BackboneEntry] = {
    "resnet18": BackboneEntry("resnet18", "resnet", CNN_PLACEMENTS, (1, 2, 3, 4), (2, 3, 4)),
    "resnet50": BackboneEntry("resnet50", "resnet", CNN_PLACEMENTS, (1, 2, 3, 4), (2, 3, 4)),
    "densenet121": BackboneEntry("densenet121", "densenet", ("stage", "head"), (1, 2, 3, 4), (2, 3, 4)),
    "vgg16": BackboneEntry("vgg16", "vgg", ("stage", "replace-last", "head"), (0, 1, 2, 3, 4), (3, 4, 5)),
    "efficientnet_b0": BackboneEntry("efficientnet_b0", "efficientnet", CNN_PLACEMENTS, (1, 2, 3, 4), (2, 3, 4)),
    "deit_tiny": BackboneEntry("deit_tiny_patch16_224", "vit", ()),
    "vit_tiny": BackboneEntry("vit_tiny_patch16_224", "vit", ()),
}


def get_backbone(name: str) -> BackboneEntry:
    """Registry lookup; unknown names raise a ConfigError listing the supported backbones."""
    return BACKBONES[choose("backbone", name, BACKBONES)]


def create_timm_model(entry: BackboneEntry) -> nn.Module:
    """The plain timm model (random weights, ImageNet head) whose names match published weights.

    ViTs keep their 224-px position embedding (so ImageNet weights fit) and interpolate it to the
    actual patch grid at run time.
    """
    kwargs = {"dynamic_img_size": True} if entry.family == "vit" else {}
    return timm.create_model(entry.timm_name, pretrained=False, **kwargs)


class StagedCNN(nn.Module):
    """A CNN as a chain of stages; ``forward`` returns every stage's output, the last being final."""

    def __init__(self, stages: list[nn.Sequential]):
        super().__init__()
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs


def _ordered_layers(model: nn.Module, cut_points: set[str]) -> list[tuple[str, nn.Module]]:
    """Top-level layers in forward order, expanding containers that hold a cut point."""
    layers = []
    for name, child in model.named_children():
        if name in HEAD_MODULES:
            continue
        if any(point.startswith(name + ".") for point in cut_points):
            layers += [(f"{name}.{sub}", module) for sub, module in child.named_children()]
        else:
            layers.append((name, child))
    return layers


def stage_timm_cnn(model: nn.Module) -> StagedCNN:
    """Cut a timm CNN at its feature_info points; trailing layers (e.g. a 1x1 head conv) join the last stage."""
    info = model.feature_info
    cut_points = [f["module"] for f in info]
    stages, current = [], OrderedDict()
    for name, module in _ordered_layers(model, set(cut_points)):
        current[name.replace(".", "_")] = module
        if name in cut_points:
            stages.append(nn.Sequential(current))
            current = OrderedDict()
    for name, module in current.items():
        stages[-1].add_module(name, module)
    return StagedCNN(stages)


def build_backbone(entry: BackboneEntry, model: nn.Module) -> nn.Module:
    """Turn a (possibly weight-loaded) timm model into the medattn backbone, explainer-friendly."""
    disable_inplace(model)
    if entry.family == "vit":
        model.reset_classifier(0)
        return model
    convert_residual_blocks(model)
    return stage_timm_cnn(model)
