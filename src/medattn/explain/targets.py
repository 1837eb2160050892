"""What an explanation explains: one output column per explainable target, for every kind of head.

Attribution methods explain one scalar per image, picked from a model output by an integer
``target`` (captum's convention). ``TargetModel`` wraps a classifier so that this holds for every
head medattn builds:

- ``softmax``: K logits; target k explains logit k (the pre-softmax score, as captum and the seed
  papers do; explaining the probability mixes in every other class).
- ``sigmoid``: one logit z for a binary task; the wrapper outputs ``[-z, z]`` so target 1 explains
  the positive class and target 0 the negative class, whose score is the negated logit.
- ``multilabel``: K independent sigmoid logits, one per finding; target k explains finding k.
"""

from dataclasses import dataclass

import torch
from torch import nn

from medattn.errors import ConfigError, choose

HEAD_KINDS = ("softmax", "sigmoid", "multilabel")
TARGET_CHOICES = ("predicted", "label")


class TargetModel(nn.Module):
    """``model`` with its output rearranged to one column per explainable target (see module doc).

    Attributes:
        model: the wrapped classifier; its module names are the ones error messages use.
        head: ``softmax``, ``sigmoid`` or ``multilabel``.
    """

    def __init__(self, model: nn.Module, head: str):
        super().__init__()
        self.model = model
        self.head = choose("head kind", head, HEAD_KINDS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        if self.head == "sigmoid":
            if logits.shape[1] != 1:
                raise ConfigError(f"head kind 'sigmoid' needs one output logit, the model has {logits.shape[1]}")
            return torch.cat([-logits, logits], dim=1)
        return logits

    def probabilities(self, outputs: torch.Tensor) -> torch.Tensor:
        """Per-target probabilities [B, T] from this wrapper's outputs (softmax, or sigmoid per column).

        For ``sigmoid`` heads the columns are ``[-z, z]``, so the sigmoid of each column is
        ``[1 - p, p]``.
        """
        return outputs.softmax(1) if self.head == "softmax" else outputs.sigmoid()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities [B, T] of a batch of inputs (no gradient)."""
        with torch.no_grad():
            return self.probabilities(self(x))

    @property
    def num_targets(self) -> int:
        """Number of output columns (2 for a sigmoid head)."""
        n = self.model.spec.num_classes if hasattr(self.model, "spec") else None
        return 2 if self.head == "sigmoid" else n


def head_kind(model: nn.Module, multilabel: bool = False) -> str:
    """The head kind of a medattn classifier: one logit is ``sigmoid``, K logits ``softmax``
    (or ``multilabel`` when asked)."""
    num_classes = model.spec.num_classes
    if num_classes == 1:
        return "sigmoid"
    return "multilabel" if multilabel else "softmax"


@dataclass(frozen=True)
class Targets:
    """The targets explained for a batch: one column index per image, and how they were chosen."""

    indices: torch.Tensor
    rule: str


def resolve_targets(
    target: "str | int | list[int] | torch.Tensor",
    model: TargetModel,
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
) -> Targets:
    """Turn a target request into one output column per image.

    Args:
        target: ``"predicted"`` (the top column per image; for multilabel heads the finding with
            the highest probability), ``"label"`` (needs ``labels``), one column index for the
            whole batch, or one index per image.
        model: the wrapped model.
        images: the batch (only used for ``"predicted"``).
        labels: true class indices, for ``"label"``.
    """
    batch = images.shape[0]
    if isinstance(target, str):
        choose("target", target, TARGET_CHOICES)
        if target == "label":
            if labels is None:
                raise ConfigError("target 'label' needs the images' labels")
            indices = torch.as_tensor(labels).long().reshape(-1)
        else:
            indices = model.predict(images).argmax(1)
        return Targets(_checked(indices.cpu(), batch, model, images), target)
    if isinstance(target, int):
        return Targets(_checked(torch.full((batch,), target), batch, model, images), f"column {target}")
    return Targets(_checked(torch.as_tensor(target).long().reshape(-1), batch, model, images), "given")


def _checked(indices: torch.Tensor, batch: int, model: TargetModel, images: torch.Tensor) -> torch.Tensor:
    if indices.numel() != batch:
        raise ConfigError(f"target: got {indices.numel()} indices for a batch of {batch} images")
    columns = model.num_targets
    if columns is None:
        with torch.no_grad():
            columns = model(images[:1]).shape[1]
    if ((indices < 0) | (indices >= columns)).any():
        raise ConfigError(f"target: indices must lie in 0..{columns - 1}, got {indices.tolist()}")
    return indices
