"""Training protocols: a paper preset's settings, its per-model hyper-parameters, then overrides."""

from dataclasses import replace

from medattn.config import TrainSpec
from medattn.data.transforms import AUGMENTATIONS
from medattn.errors import ConfigError, choose
from medattn.models.attention.base import controlled_mechanism
from medattn.models.presets import get_preset
from medattn.train.loggers import LOGGERS

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "step", "cosine", "plateau")
LOSSES = ("ce", "bce")
AMP_MODES = ("auto", "off", "bf16", "fp16")
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
    """Check every training setting; the first invalid one raises a one-line ConfigError."""
    choose("optimizer", spec.optimizer, OPTIMIZERS)
    choose("schedule", spec.schedule, SCHEDULES)
    choose("loss", spec.loss, LOSSES)
    choose("augmentation", spec.augmentation, AUGMENTATIONS)
    choose("amp mode", spec.amp, AMP_MODES)
    for name in spec.log:
        choose("logger", name, LOGGERS)
    checks = [
        (spec.epochs >= 1, f"--epochs must be at least 1, got {spec.epochs}"),
        (spec.batch_size >= 1, f"--batch-size must be at least 1, got {spec.batch_size}"),
        (spec.lr > 0, f"--lr must be positive, got {spec.lr}"),
        (spec.weight_decay >= 0, f"--weight-decay must be >= 0, got {spec.weight_decay}"),
        (all(0 < m < 1 for m in spec.milestones), f"milestones must be fractions in (0, 1), got {spec.milestones}"),
        (spec.patience is None or spec.patience >= 1, f"--patience must be at least 1, got {spec.patience}"),
        (spec.grad_clip is None or spec.grad_clip > 0, f"--grad-clip must be positive, got {spec.grad_clip}"),
        (spec.workers >= 0, f"--workers must be >= 0, got {spec.workers}"),
        (
            spec.class_weights in (None, "balanced") or isinstance(spec.class_weights, tuple),
            f"class weights must be 'balanced' or a list of numbers, got {spec.class_weights!r}",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def build_run_config(sections: dict, *, hyperparameters: str | None = None):
    """A RunConfig from ``{"data": {...}, "model": {...}, "train": {...}}`` (file values already
    overridden by flags), with the preset's protocol applied under the given training values.

    Where the user's image size differs from the preset's, ``train.scaled`` records it.
    """
    from medattn.config import DataSpec, ModelSpec, RunConfig

    model = ModelSpec.from_dict(sections.get("model") or {}, "model settings")
    train = resolve_train(
        sections.get("train") or {}, preset=model.preset, backbone=model.backbone, attention=model.attention,
        hyperparameters=hyperparameters,
    )  # fmt: skip
    if model.preset and model.image_size:
        preset_size = get_preset(model.preset).model.get("image_size")
        if preset_size and preset_size != model.image_size:
            train = replace(train, scaled={**train.scaled, "image_size": [preset_size, model.image_size]})
    return RunConfig(DataSpec.from_dict(sections.get("data") or {}, "data settings"), model, train)
