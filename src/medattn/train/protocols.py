"""Training protocols: a paper preset's settings, its per-model hyper-parameters, then overrides."""

import re
from dataclasses import replace

from medattn.config import ModelSpec, TrainSpec
from medattn.errors import ConfigError, choose
from medattn.models.attention.base import controlled_mechanism
from medattn.models.presets import get_preset
from medattn.validation import check_spec, check_values, naming

SCALABLE = ("epochs", "batch_size")


def resolve_train(
    overrides: dict,
    *,
    preset: str | None = None,
    backbone: str = "",
    attention: str = "none",
    hyperparameters: str | None = None,
) -> TrainSpec:
    """The training settings of a run.

    Precedence: TrainSpec defaults < the preset's protocol < the preset's per-model lr/weight
    decay (seed 004, Table 5) < ``overrides`` (run config file, then command-line flags). Where an
    override changes the protocol's epochs or batch size, ``scaled`` records ``[protocol, used]``.

    Raises:
        ConfigError: an unknown or invalid value, naming the option and the valid choices.
    """
    overrides = check_values(TrainSpec, overrides, None, flags=True)  # named as options: --epochs ...
    base: dict = {}
    if preset:
        protocol = get_preset(preset)
        base = {**protocol.train, "protocol": preset}
        if protocol.hyperparameters:
            key = choose(
                "hyperparameter set", hyperparameters or next(iter(protocol.hyperparameters)), protocol.hyperparameters
            )
            # A parameter-matched control trains with its mechanism's tuned values (like with like).
            lr_wd = protocol.hyperparameters[key].get(backbone, {}).get(controlled_mechanism(attention))
            if lr_wd:
                base.update(lr=lr_wd[0], weight_decay=lr_wd[1])
    spec = TrainSpec.from_dict({**base, **overrides}, "training settings")
    scaled = {k: [base[k], overrides[k]] for k in SCALABLE if k in base and k in overrides and base[k] != overrides[k]}
    validate_train(spec)
    return replace(spec, scaled={**spec.scaled, **scaled})


def validate_train(spec: TrainSpec) -> None:
    """Check every training setting again (``medattn.config``'s rules; a spec is checked when made)."""
    check_spec(spec)


def check_model(spec: ModelSpec) -> None:
    """The checks of a model spec that need the model registry: a ViT's input must be a whole number of patches
    (timm would silently crop the remainder).

    Raises:
        ConfigError: naming the image size, the backbone and its patch size.
    """
    from medattn.models.backbones import get_backbone
    from medattn.models.factory import resolve_spec

    resolved, _ = resolve_spec(spec)
    entry = get_backbone(resolved.backbone)
    patch = re.search(r"patch(\d+)", entry.timm_name) if entry.family == "vit" else None
    if patch and resolved.image_size % int(patch[1]):
        size, step = resolved.image_size, int(patch[1])
        raise ConfigError(
            f"--image-size {size}: {resolved.backbone} cuts images into {step}-pixel patches; use a multiple of "
            f"{step} such as {max(step * 2, size // step * step)} or {(size // step + 1) * step}"
        )


def build_run_config(sections: dict, *, hyperparameters: str | None = None, flags: bool = False):
    """A RunConfig from ``{"data": {...}, "model": {...}, "train": {...}}`` (file values already
    overridden by flags), with the preset's protocol applied under the given training values.

    Where the user's image size differs from the preset's, ``train.scaled`` records it. ``flags``: messages name
    the settings as command-line options (``--weights``), else as keys of the model and data settings.
    """
    from medattn.config import DataSpec, RunConfig

    model = _spec(ModelSpec, sections.get("model") or {}, "model settings", flags)
    check_model(model)
    train = resolve_train(
        sections.get("train") or {}, preset=model.preset, backbone=model.backbone, attention=model.attention,
        hyperparameters=hyperparameters,
    )  # fmt: skip
    if model.preset and model.image_size:
        preset_size = get_preset(model.preset).model.get("image_size")
        if preset_size and preset_size != model.image_size:
            train = replace(train, scaled={**train.scaled, "image_size": [preset_size, model.image_size]})
    with naming(None, flags):
        return RunConfig(_spec(DataSpec, sections.get("data") or {}, "data settings", flags), model, train)


def _spec(cls, data: dict, source: str, flags: bool):
    if not flags:
        return cls.from_dict(data, source)
    with naming(None, flags=True):
        return cls(**check_values(cls, data, None, flags=True))
