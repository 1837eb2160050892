"""Presets: one paper's model conventions, stored as YAML in ``medattn/presets``."""

from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources

import yaml

from medattn.config import ModelSpec
from medattn.errors import ConfigError, choose
from medattn.models.attention.base import controlled_mechanism

PARAM_CONVENTIONS = ("all", "layer-summary")


@dataclass(frozen=True)
class Preset:
    """A paper's design conventions.

    Attributes:
        name, title: identifier and one-line description.
        param_convention: how the paper counted parameters (``all`` or ``layer-summary``).
        model: spec defaults (num_classes, image_size, pretrained).
        backbones: per backbone, its head and attention placement.
        attentions: per attention, constructor options.
        train: the training protocol (TrainSpec fields).
        hyperparameters: per dataset, backbone and attention: ``[lr, weight_decay]`` (seed 004).
        notes: where the paper is silent and what was chosen.
    """

    name: str
    title: str
    param_convention: str
    model: dict
    backbones: dict
    attentions: dict
    train: dict = field(default_factory=dict)
    hyperparameters: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


@cache
def preset_names() -> tuple[str, ...]:
    files = resources.files("medattn.presets").iterdir()
    return tuple(sorted(f.name.removesuffix(".yaml") for f in files if f.name.endswith(".yaml")))


@cache
def get_preset(name: str) -> Preset:
    """Load a preset by name; unknown names raise a ConfigError listing the presets."""
    choose("preset", name, preset_names())
    data = yaml.safe_load(resources.files("medattn.presets").joinpath(f"{name}.yaml").read_text())
    return Preset(**data)


def apply_preset(spec: ModelSpec) -> tuple[ModelSpec, str]:
    """Fill the spec's unset fields from its preset; returns the spec and the parameter convention."""
    if spec.preset is None:
        return spec, "all"
    preset = get_preset(spec.preset)
    if spec.backbone not in preset.backbones:
        raise ConfigError(
            f"preset '{preset.name}' has no backbone '{spec.backbone}'; choose one of: {', '.join(preset.backbones)}"
        )
    if controlled_mechanism(spec.attention) not in preset.attentions:
        raise ConfigError(
            f"preset '{preset.name}' has no attention '{spec.attention}'; choose one of: {', '.join(preset.attentions)}"
            " (or matched-<name> of one)"
        )
    options = {}
    for part in spec.attention.split("+"):  # a control (matched-se) is built with its mechanism's options
        part_options = (preset.attentions.get(controlled_mechanism(part)) or {}).get("options")
        if part_options:
            options[part] = {**part_options, **spec.attention_options.get(part, {})}
    per_backbone = preset.backbones[spec.backbone] or {}
    placement = per_backbone.get("placement") if spec.attention != "none" else None
    spec = spec.with_defaults(head=per_backbone.get("head"), placement=placement, **preset.model)
    return replace(spec, attention_options={**spec.attention_options, **options}), preset.param_convention
