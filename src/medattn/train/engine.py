"""The training and evaluation loops: one epoch at a time, device- and precision-aware."""

import math
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from medattn.errors import ConfigError
from medattn.train.precision import Precision


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says where and what was kept."""


def choose_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


def to_device(batch, device: torch.device):
    images, labels = batch[0], batch[1]
    memory_format = torch.channels_last if images.ndim == 4 else torch.contiguous_format
    images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
    return images, labels.to(device, non_blocking=True)


def train_epoch(
    model: nn.Module,
    loader: DataLoader,
    loss_fn,
    optimizer: torch.optim.Optimizer,
    precision: Precision,
    *,
    epoch: int,
    grad_clip: float | None = None,
    scaler: torch.amp.GradScaler | None = None,
    progress=None,
) -> tuple[float, float]:
    """One pass over ``loader``; returns (mean loss, images per second).

    Raises:
        TrainingError: the loss became NaN or infinite (names the epoch and step).
    """
    model.train()
    total, count, start = 0.0, 0, time.perf_counter()
    for step, batch in enumerate(loader, start=1):
        images, labels = to_device(batch, precision.device)
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            loss = loss_fn(model(images), labels)
        if not torch.isfinite(loss):
            raise TrainingError(f"non-finite loss ({loss.item()}) at epoch {epoch + 1}, step {step}")
        _backward_step(loss, model, optimizer, scaler, grad_clip)
        total += loss.item() * len(labels)
        count += len(labels)
        if progress:
            progress(step, len(loader), total / count, count / (time.perf_counter() - start))
    if count == 0:
        raise ConfigError("the training split is empty (batch size larger than the dataset?)")
    return total / count, count / (time.perf_counter() - start)


def _backward_step(loss, model, optimizer, scaler, grad_clip) -> None:
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    if grad_clip:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, loss_fn, precision: Precision, to_probabilities):
    """Mean loss, class probabilities [N, K] and labels [N] over ``loader`` (eval mode)."""
    model.eval()
    total, probs, labels = 0.0, [], []
    for batch in loader:
        images, y = to_device(batch, precision.device)
        with precision.autocast():
            logits = model(images)
        total += loss_fn(logits, y).item() * len(y)
        probs.append(to_probabilities(logits).cpu())
        labels.append(y.cpu())
    if not labels:
        return math.nan, torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)
    labels = torch.cat(labels)
    return total / len(labels), torch.cat(probs), labels
