"""Frozen specifications with YAML in/out. ``None`` means "not set": presets and defaults fill it."""

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import yaml

from medattn.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """What to build: backbone x attention x placement x head.

    Attributes:
        backbone: registry name (``medattn models`` lists them).
        attention: mechanism name, ``'none'``, or a combination such as ``'ga+la'``.
        placement: where the attention goes (``block``, ``stage``, ``replace-last``, ``head``); for a
            combination one per part joined by ``+``. None: each mechanism's default.
        head: ``gap`` or ``flatten``. None: the preset's choice, else ``gap``.
        num_classes: output logits (1 = a single sigmoid logit). None: preset's, else 2.
        pretrained: start from ImageNet weights. None: preset's, else False.
        weights: path of a weights file (safetensors, or .pth loaded with weights_only=True).
        image_size: input size the model is built for (flatten heads, MACs). None: preset's, else 224.
        stages: feature levels for ``stage`` placement / MLDAM taps (timm feature_info indices).
        preset: a paper's conventions (``goncalves2021``, ``goncalves2022``, ``rao2023``, ``piater2024``).
        attention_options: per-mechanism constructor options, e.g. ``{'se': {'bias': False}}``.
    """

    backbone: str = "resnet18"
    attention: str = "none"
    placement: str | None = None
    head: str | None = None
    num_classes: int | None = None
    pretrained: bool | None = None
    weights: str | None = None
    image_size: int | None = None
    stages: tuple[int, ...] | None = None
    preset: str | None = None
    attention_options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["stages"] = list(self.stages) if self.stages is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict, source: str = "model spec") -> "ModelSpec":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key '{unknown[0]}'; valid keys: {', '.join(sorted(known))}")
        if data.get("stages") is not None:
            data = {**data, "stages": tuple(int(s) for s in data["stages"])}
        return cls(**data)

    def with_defaults(self, **defaults) -> "ModelSpec":
        """Fill the fields that are None from ``defaults``."""
        return replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; a missing or malformed file raises a ConfigError naming it."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    return data
