"""Where attention goes: inside residual blocks, after stages, in place of the last stage's layers.

Every function edits a ``StagedCNN`` in place and returns the inserted modules.
"""

from collections.abc import Callable

from torch import nn

from medattn.models.attention.local_attn import EmbeddedLocalAttention, LocalSelfAttention
from medattn.models.backbones import StagedCNN
from medattn.models.blocks import ResidualUnit

PLACEMENTS = ("block", "stage", "replace-last", "head")


def _output_channels(unit: ResidualUnit) -> int:
    norms = [m for m in unit.branch.modules() if isinstance(m, nn.BatchNorm2d)]
    return norms[-1].num_features


def insert_attention_in_blocks(backbone: StagedCNN, make: Callable[[int], nn.Module]) -> list[nn.Module]:
    """Put one attention module in every residual block, after the branch's last norm and before the
    addition (Rao et al. 2023, fig. 6; the SE-ResNet position of Hu et al.)."""
    inserted = []
    for unit in backbone.modules():
        if isinstance(unit, ResidualUnit):
            unit.attn = make(_output_channels(unit))
            inserted.append(unit.attn)
    return inserted


def insert_attention_after_stages(
    backbone: StagedCNN, make: Callable[[int], nn.Module], stages: tuple[int, ...], channels: list[int], name: str
) -> list[nn.Module]:
    """Append one attention module to the end of each stage in ``stages`` (feature levels)."""
    inserted = []
    for index in stages:
        module = make(channels[index])
        backbone.stages[index].add_module(name.replace("-", "_"), module)
        inserted.append(module)
    return inserted


def _local_attention(kind: str, original: nn.Module, cin: int, cout: int, stride: int, options: dict) -> nn.Module:
    if kind == "ela":
        return EmbeddedLocalAttention(original, cin, cout, stride=stride, **options)
    return LocalSelfAttention(cin, cout, stride=stride, **options)


def _unit_geometry(unit: ResidualUnit) -> tuple[int, int, int]:
    convs = [m for m in unit.branch.modules() if isinstance(m, nn.Conv2d)]
    stride = max(c.stride[0] for c in convs)
    return convs[0].in_channels, convs[-1].out_channels, stride


def _has_spatial_conv(stage: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1 for m in stage.modules())


def replace_last_stage(backbone: StagedCNN, kind: str, whole_blocks: bool, options: dict) -> list[nn.Module]:
    """Replace the spatial layers of the last stage by LA, or wrap them with ELA (Piater et al. 2024).

    With ``whole_blocks`` (EfficientNet) each residual block of the last block group (timm's last
    ``blocks`` stage) is replaced as a whole, since replacing only its depth-wise convolution would
    multiply its parameters (seed 004, section 2.3); otherwise every k x k (k > 1, ungrouped)
    convolution of the last stage is, 1x1 shortcuts excepted. The last stage is the last one with a
    spatial convolution: VGG-16's final feature level holds only its last max-pool.
    """
    inserted = []

    def visit(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if whole_blocks and isinstance(child, ResidualUnit):
                cin, cout, stride = _unit_geometry(child)
            elif not whole_blocks and isinstance(child, nn.Conv2d) and child.kernel_size[0] > 1 and child.groups == 1:
                cin, cout, stride = child.in_channels, child.out_channels, child.stride[0]
            else:
                visit(child)
                continue
            module = _local_attention(kind, child, cin, cout, stride, options)
            setattr(parent, name, module)
            inserted.append(module)

    target = next(stage for stage in reversed(backbone.stages) if _has_spatial_conv(stage))
    if whole_blocks:
        groups = [c for c in target.children() if any(isinstance(m, ResidualUnit) for m in c.modules())]
        target = groups[-1]
    visit(target)
    return inserted
