"""Frozen specifications with YAML in/out. ``None`` means "not set": presets and defaults fill it.

Every field is validated in one place, when a spec is made (``__post_init__``), against the table ``RULES`` of
:mod:`medattn.validation`: its type, range or valid choices, then the checks across fields. ``from_dict`` names the
file and section in the one-line message; specs made in Python (and from command-line flags) name the option.
"""

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import yaml

from medattn.errors import ConfigError
from medattn.validation import check_spec, check_synthetic_size, naming


@dataclass(frozen=True)
class ModelSpec:
    """What to build: backbone x attention x placement x head.

    Attributes:
        backbone: registry name (``medattn models`` lists them).
        attention: mechanism name, ``'none'``, or a combination such as ``'ga+la'``; ``'matched-<name>'``
            is the parameter-matched control of a mechanism (``medattn.models.attention.control``).
        placement: where the attention goes (``block``, ``stage``, ``replace-last``, ``head``); for a
            combination one per part joined by ``+``. None: each mechanism's default.
        head: ``gap`` or ``flatten``. None: the preset's choice, else ``gap``.
        num_classes: output logits (1 = a single sigmoid logit, two-class data only). None: a run takes the
            number of classes of its data; a model built without data takes the preset's, else 2.
        pretrained: start from ImageNet weights. None: preset's, else False.
        weights: path of a weights file (safetensors, or .pth loaded with weights_only=True).
        image_size: input size the model is built for (flatten heads, MACs). None: preset's, else 224.
        stages: feature levels for ``stage`` placement / MLDAM taps (timm feature_info indices).
        preset: a paper's conventions (``goncalves2021``, ``goncalves2022``, ``rao2023``, ``piater2024``).
        attention_options: per-mechanism constructor options, e.g. ``{'se': {'bias': False}}``; a
            control takes its mechanism's options under its own name (``{'matched-se': {'bias': False}}``).
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

    def __post_init__(self) -> None:
        check_spec(self)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["stages"] = list(self.stages) if self.stages is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict, source: str = "model spec") -> "ModelSpec":
        return _from_dict(cls, data, source)

    def with_defaults(self, **defaults) -> "ModelSpec":
        """Fill the fields that are None from ``defaults``."""
        return replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})


@dataclass(frozen=True)
class DataSpec:
    """Where the images come from and how they are split.

    Attributes:
        path: dataset folder, CSV manifest or .npz; None generates the synthetic lesion benchmark.
        recipe: release layout (``medattn.data.recipes``).
        val_fraction, test_fraction: split sizes for records without an official split.
        regime: fraction of the training split to keep (seed 001's data regimes).
        duplicates: ``refuse`` | ``train`` | ``evaluation`` | ``keep``: what to do with images, and with patients
            (groups), in two splits (``keep``: leave the copies in both, as some papers did; evaluation then sees
            training images).
        max_dropped: largest fraction (0-1) of the dataset's files that may be unusable (unreadable, too large,
            a mismatched mask, missing) before preparation is refused; default 0.05 (1: accept any loss).
        synthetic_n, synthetic_shortcut, synthetic_difficulty: the synthetic benchmark's size,
            shortcut strength and difficulty (only without ``path``).
    """

    path: str | None = None
    recipe: str | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    regime: float = 1.0
    duplicates: str = "refuse"
    max_dropped: float = 0.05
    synthetic_n: int = 600
    synthetic_shortcut: float | None = None
    synthetic_difficulty: float = 0.5

    def __post_init__(self) -> None:
        check_spec(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "data spec") -> "DataSpec":
        return _from_dict(cls, data, source)


@dataclass(frozen=True)
class TrainSpec:
    """How to train: the protocol of a paper, or any combination of these settings.

    Attributes:
        protocol: the paper protocol these settings came from (None: custom).
        epochs, batch_size: as usual.
        optimizer: ``sgd`` | ``adam``; lr, momentum, weight_decay as usual.
        schedule: ``constant`` | ``step`` | ``cosine`` | ``plateau``.
        milestones: for ``step``: fractions of training at which the lr is multiplied by ``gamma``.
        loss: ``ce`` (K logits) | ``bce`` (one logit per output).
        class_weights: None, ``balanced`` (inverse class frequency on train), or explicit weights.
        patience: early stopping after this many epochs without a better val loss (None: off).
        grad_clip: max gradient norm (None: off).
        augmentation: ``none`` | ``goncalves2021`` | ``perez2018``.
        seed: everything random derives from it.
        deterministic: bit-identical results for the same seed on the same machine.
        workers: data-loading processes (0: in the training process).
        amp: mixed precision (``medattn.train.precision``): ``cuda`` (default) autocasts on CUDA only (bf16
            where supported, else fp16) and trains the CPU in fp32; ``auto`` also uses bf16 on a CPU where the
            run's model measures faster; ``off`` (fp32), ``bf16`` and ``fp16`` force it.
        log: extra loggers, ``tensorboard`` and/or ``mlflow``.
        scaled: what the user scaled down from the protocol (e.g. ``{"epochs": [100, 5]}``).
    """

    protocol: str | None = None
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "constant"
    milestones: tuple[float, ...] = (0.3, 0.6, 0.9)
    gamma: float = 0.1
    loss: str = "ce"
    class_weights: str | tuple[float, ...] | None = None
    patience: int | None = None
    grad_clip: float | None = None
    augmentation: str = "none"
    seed: int = 0
    deterministic: bool = False
    workers: int = 0
    amp: str = "cuda"
    log: tuple[str, ...] = ()
    scaled: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_spec(self)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["milestones"] = list(self.milestones)
        data["log"] = list(self.log)
        if isinstance(self.class_weights, tuple):
            data["class_weights"] = list(self.class_weights)
        return data

    @classmethod
    def from_dict(cls, data: dict, source: str = "train spec") -> "TrainSpec":
        return _from_dict(cls, data, source)


def _from_dict(cls, data: dict, source: str):
    """``cls(**data)``, validated with messages that name ``source`` and the keys."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of {cls.__name__} keys, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key '{unknown[0]}'; valid keys: {', '.join(sorted(known))}")
    with naming(source):
        return cls(**data)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run: data, model and training. Saved as the run's config.yaml."""

    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)

    def __post_init__(self) -> None:
        if self.data.path is None:  # the synthetic benchmark is written at the model's input size
            check_synthetic_size(self.data.synthetic_n, self.model.image_size or 224)

    def to_dict(self) -> dict:
        return {"data": self.data.to_dict(), "model": self.model.to_dict(), "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, data: dict, source: str = "run config") -> "RunConfig":
        unknown = sorted(set(data) - {"data", "model", "train"})
        if unknown:
            raise ConfigError(f"{source}: unknown section '{unknown[0]}'; valid sections: data, model, train")
        with naming(source):
            return cls(
                DataSpec.from_dict(data.get("data") or {}, f"{source} [data]"),
                ModelSpec.from_dict(data.get("model") or {}, f"{source} [model]"),
                TrainSpec.from_dict(data.get("train") or {}, f"{source} [train]"),
            )


def write_yaml(path: str | Path, data: dict) -> Path:
    """Write a mapping as YAML, atomically."""
    from medattn.io import write_text_atomic

    return write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; a missing or malformed file raises a ConfigError naming it."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (binary or damaged)") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    return data
