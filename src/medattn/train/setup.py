"""Optimiser, learning-rate schedule and loss from a TrainSpec."""

from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
from torch import nn

from medattn.config import ModelSpec, TrainSpec
from medattn.errors import ConfigError


def outputs_for_data(spec: ModelSpec, classes: Sequence[str], where: str) -> ModelSpec:
    """The model's outputs follow the data: K classes -> K logits (``num_classes`` unset, the preset's value
    notwithstanding: a paper's class count describes its data, not the user's), or one sigmoid logit when
    ``num_classes`` is 1 and the data has two classes.

    Raises:
        ConfigError: fewer than two classes, or a ``num_classes`` that contradicts the data, naming both numbers.
    """
    count = len(classes)
    if count < 2:
        raise ConfigError(f"{where}: {count} class ({', '.join(classes)}); a classifier needs at least two")
    if spec.num_classes is None:
        return replace(spec, num_classes=count)
    if spec.num_classes == count or (spec.num_classes == 1 and count == 2):
        return spec
    allowed = f"{count}, or 1 for one sigmoid logit" if count == 2 else f"{count}"
    raise ConfigError(
        f"--num-classes {spec.num_classes} contradicts the data: {where} has {count} classes "
        f"({', '.join(classes)}); use {allowed}, or leave --num-classes out to follow the data"
    )


def build_optimizer(model: nn.Module, spec: TrainSpec) -> torch.optim.Optimizer:
    """SGD (momentum, weight decay) or Adam (L2 weight decay), over the trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay)


def milestone_epochs(spec: TrainSpec) -> list[int]:
    """Epochs after which step decay applies, e.g. 30/60/90 % of 100 epochs -> [30, 60, 90]."""
    return sorted({max(1, round(f * spec.epochs)) for f in spec.milestones})


def build_scheduler(optimizer: torch.optim.Optimizer, spec: TrainSpec):
    """A per-epoch scheduler; ``plateau`` steps on the validation loss."""
    if spec.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestone_epochs(spec), gamma=spec.gamma)
    if spec.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=spec.epochs)
    if spec.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=spec.gamma, patience=2)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def class_weight_tensor(spec: TrainSpec, train_labels: torch.Tensor, num_classes: int) -> torch.Tensor | None:
    """Class weights: explicit, or ``balanced`` = n / (K * n_c) on the training labels."""
    if spec.class_weights is None:
        return None
    classes = max(num_classes, 2)
    if spec.class_weights == "balanced":
        counts = torch.bincount(train_labels, minlength=classes).float().clamp_min(1)
        return counts.sum() / (classes * counts)
    if len(spec.class_weights) != classes:
        raise ConfigError(f"class weights: {len(spec.class_weights)} given for {classes} classes")
    return torch.tensor(spec.class_weights, dtype=torch.float32)


def build_loss(spec: TrainSpec, num_classes: int, weights: torch.Tensor | None) -> Callable:
    """``loss(logits, labels)``.

    ``ce``: cross-entropy over K logits. ``bce``: with one logit, the sigmoid of the positive class
    (``weights`` become ``pos_weight`` = w1 / w0); with K logits, independent sigmoids on the
    one-hot targets (the seed-000 code's two-output BCE).
    """
    if spec.loss == "ce":
        if num_classes < 2:
            raise ConfigError("loss 'ce' needs at least 2 logits; use --loss bce with --num-classes 1")
        criterion = nn.CrossEntropyLoss(weight=weights)
        return lambda logits, labels: criterion(logits.float(), labels)
    if num_classes == 1:
        pos_weight = None if weights is None else (weights[1] / weights[0]).reshape(1)
        criterion = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        return lambda logits, labels: criterion(logits.float().squeeze(1), labels.float())
    criterion = nn.BCEWithLogitsLoss(pos_weight=weights)
    return lambda logits, labels: criterion(logits.float(), nn.functional.one_hot(labels, num_classes).float())


def probabilities(logits: torch.Tensor, spec: TrainSpec) -> torch.Tensor:
    """Class probabilities [N, K] (K >= 2) from logits: softmax for ``ce``; for ``bce`` the sigmoid
    of one logit as [1 - p, p], or K sigmoids normalised to sum to one."""
    logits = logits.float()
    if spec.loss == "ce":
        return logits.softmax(1)
    if logits.shape[1] == 1:
        p = logits.sigmoid()
        return torch.cat([1 - p, p], dim=1)
    p = logits.sigmoid()
    return p / p.sum(1, keepdim=True).clamp_min(1e-12)
