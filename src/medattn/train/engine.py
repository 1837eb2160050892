"""A plain supervised training loop (the full engine with protocols and resume builds on it)."""

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn
from torch.utils.data import DataLoader


def train_one_epoch(
    model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, progress=None
) -> float:
    """One pass over ``loader``; returns the mean training loss."""
    model.train()
    total, count = 0.0, 0
    task = progress.add_task("train", total=len(loader), loss=float("nan")) if progress else None
    for images, labels in loader:
        images = images.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
        count += len(labels)
        if progress:
            progress.update(task, advance=1, loss=total / count)
    if progress:
        progress.remove_task(task)
    return total / max(count, 1)


@torch.no_grad()
def predict_scores(model: nn.Module, loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities and labels for every sample of ``loader``."""
    model.eval()
    scores, labels = [], []
    for images, y in loader:
        scores.append(model(images.contiguous(memory_format=torch.channels_last)).softmax(1))
        labels.append(y)
    return torch.cat(scores), torch.cat(labels)


def fit(model: nn.Module, loader: DataLoader, *, epochs: int, lr: float, quiet: bool = False) -> list[float]:
    """Train with SGD (momentum 0.9, weight decay 1e-4) and cross-entropy; returns per-epoch losses."""
    model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("loss {task.fields[loss]:.4f}"))
    history = []
    with Progress(*columns, TimeRemainingColumn(), disable=quiet) as progress:
        for epoch in range(epochs):
            progress.console.log(f"epoch {epoch + 1}/{epochs}")
            history.append(train_one_epoch(model, loader, optimizer, loss_fn, progress))
    return history
