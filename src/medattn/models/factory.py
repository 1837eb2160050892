"""``create_model``: one function from a ModelSpec to a classifier, validated, with a build report."""

from dataclasses import dataclass, replace

import torch
from torch import nn

from medattn.config import ModelSpec
from medattn.errors import ConfigError, choose
from medattn.models.attention import AttentionEntry, parse_attention
from medattn.models.backbones import HEAD_MODULES, BackboneEntry, build_backbone, create_timm_model, get_backbone
from medattn.models.heads import HEADS, build_head
from medattn.models.placement import (
    PLACEMENTS,
    insert_attention_after_stages,
    insert_attention_in_blocks,
    replace_last_stage,
)
from medattn.models.presets import apply_preset
from medattn.models.pretrained import find_weights, load_backbone_weights


class Classifier(nn.Module):
    """``head(backbone(x))``; the backbone returns the list of stage outputs.

    Attributes:
        spec: the fully resolved ModelSpec it was built from.
        param_convention: how the spec's preset counts parameters (see ``summary``).
        attention_parameters: names of the parameters that belong to attention.
        weights_report: what pretrained loading did (None without pretrained weights).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, spec: ModelSpec, param_convention: str):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.spec = spec
        self.param_convention = param_convention
        self.attention_parameters: tuple[str, ...] = ()
        self.weights_report: dict | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        return self.head(features if isinstance(features, list) else [features])


@dataclass(frozen=True)
class PlacedAttention:
    entry: AttentionEntry
    placement: str
    options: dict


def resolve_spec(spec: ModelSpec) -> tuple[ModelSpec, str]:
    """Apply the preset and the global defaults; validate every value."""
    spec, convention = apply_preset(spec)
    spec = spec.with_defaults(head="gap", num_classes=2, pretrained=False, image_size=224)
    get_backbone(spec.backbone)
    choose("head", spec.head, HEADS)
    if spec.num_classes < 1:
        raise ConfigError(f"--num-classes must be at least 1 (1 = one sigmoid logit), got {spec.num_classes}")
    if spec.image_size < 32:
        raise ConfigError(f"--image-size must be at least 32 pixels, got {spec.image_size}")
    return spec, convention


def plan_attention(spec: ModelSpec, backbone: BackboneEntry) -> list[PlacedAttention]:
    """Pair each mechanism with its placement, rejecting combinations the backbone cannot take."""
    entries = parse_attention(spec.attention)
    if entries and backbone.family == "vit":
        raise ConfigError(f"backbone '{spec.backbone}' is attention-only; it takes attention 'none'")
    placements = spec.placement.split("+") if spec.placement else [None] * len(entries)
    if len(placements) != len(entries):
        raise ConfigError(f"--placement '{spec.placement}' must name one placement per mechanism of '{spec.attention}'")
    plan = []
    for entry, placement in zip(entries, placements, strict=True):
        valid = [p for p in entry.placements if p in backbone.placements]
        if placement is None and valid:
            placement = valid[0]
        if placement is not None:
            choose("placement", placement, PLACEMENTS)
        if placement not in valid:
            raise ConfigError(
                f"attention '{entry.name}' cannot go at placement '{placement}' in {spec.backbone}; "
                f"valid placements: {', '.join(valid) or 'none (choose another backbone)'}"
            )
        plan.append(PlacedAttention(entry, placement, spec.attention_options.get(entry.name, {})))
    if [p.placement for p in plan].count("head") > 1:
        raise ConfigError(f"attention '{spec.attention}' combines two heads; use one head mechanism")
    return plan


def probe_shapes(backbone: nn.Module, image_size: int) -> list[torch.Size]:
    """Per-sample shape of every stage output for one input of ``image_size`` (eval mode, no grad)."""
    was_training = backbone.training
    backbone.eval()
    with torch.no_grad():
        out = backbone(torch.zeros(1, 3, image_size, image_size))
    backbone.train(was_training)
    return [t.shape[1:] for t in (out if isinstance(out, list) else [out])]


def insert_attention(backbone: nn.Module, plan: list[PlacedAttention], spec: ModelSpec, entry: BackboneEntry):
    """Insert the planned mechanisms; returns the head module if one of them is a head."""
    shapes = probe_shapes(backbone, spec.image_size)
    channels = [s[0] for s in shapes]
    head = None
    for placed in plan:
        options, make = placed.options, placed.entry.position_builder(placed.options)
        if placed.placement == "block":
            insert_attention_in_blocks(backbone, make)
        elif placed.placement == "stage":
            default = _levels_at_strides(shapes, spec.image_size, placed.entry.default_strides)
            stages = spec.stages or default or entry.stages
            _check_levels(stages, len(shapes), spec)
            insert_attention_after_stages(backbone, make, stages, channels, placed.entry.name)
        elif placed.placement == "replace-last":
            replace_last_stage(backbone, placed.entry.name, entry.family == "efficientnet", options)
        else:
            taps = spec.stages or entry.taps
            _check_levels(taps, len(shapes), spec)
            grid = tuple(shapes[taps[-1]][1:])
            head = _TapHead(placed.entry.build([channels[i] for i in taps], grid, spec.num_classes, **options), taps)
    return head


def _levels_at_strides(shapes: list[torch.Size], image_size: int, strides: tuple[int, ...] | None) -> tuple[int, ...]:
    if not strides:
        return ()
    return tuple(i for i, shape in enumerate(shapes) if round(image_size / shape[-1]) in strides)


def _check_levels(levels: tuple[int, ...], count: int, spec: ModelSpec) -> None:
    if not levels or any(not 0 <= i < count for i in levels):
        raise ConfigError(f"--stages {list(levels)}: {spec.backbone} has feature levels 0..{count - 1}")


class _TapHead(nn.Module):
    """Feeds the chosen stage outputs to a multi-level head."""

    def __init__(self, head: nn.Module, taps: tuple[int, ...]):
        super().__init__()
        self.attention = head
        self.taps = tuple(taps)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.attention([features[i] for i in self.taps])


def create_model(spec: ModelSpec, *, load_weights: bool = True) -> Classifier:
    """Build the classifier a spec describes.

    Args:
        spec: what to build; unset fields come from its preset, then defaults.
        load_weights: load pretrained weights when the spec asks for them. False builds the
            architecture only (parameter counts, tests).

    Raises:
        ConfigError: unknown names, invalid combinations, unusable weights.
    """
    spec, convention = resolve_spec(spec)
    entry = get_backbone(spec.backbone)
    plan = plan_attention(spec, entry)
    if spec.head == "flatten" and entry.family == "vit":
        raise ConfigError(f"head 'flatten' needs a CNN feature map; {spec.backbone} takes head 'gap'")
    head_mechanisms = [p.entry.name for p in plan if p.placement == "head"]
    spec = replace(
        spec,
        placement="+".join(p.placement for p in plan) or None,
        head=head_mechanisms[0] if head_mechanisms else spec.head,
    )
    timm_model = create_timm_model(entry)
    report = None
    if spec.pretrained and load_weights:
        path = find_weights(timm_model, spec.backbone, spec.weights)
        report = load_backbone_weights(timm_model, path, spec.backbone, HEAD_MODULES)
    backbone = build_backbone(entry, timm_model)
    original = {id(p) for p in backbone.parameters()}
    head = insert_attention(backbone, plan, spec, entry)
    if head is None:
        head = build_head(spec.head, probe_shapes(backbone, spec.image_size)[-1], spec.num_classes)
    model = Classifier(backbone, head, spec, convention)
    plain_head = set() if isinstance(head, _TapHead) else {id(p) for p in head.parameters()}
    model.attention_parameters = tuple(
        name for name, p in model.named_parameters() if id(p) not in original and id(p) not in plain_head
    )
    if report is not None:
        report["new_parameters"] = [n for n, p in model.named_parameters() if id(p) not in original]
    model.weights_report = report
    return model
