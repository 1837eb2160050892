"""Classification heads. Each takes the list of stage outputs and uses the last one."""

import torch
from torch import nn

from medattn.errors import choose

HEADS = ("gap", "flatten")


class GapHead(nn.Module):
    """Global average pooling + one linear layer (a ViT's pooled token skips the pooling)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        if x.ndim == 4:
            x = self.pool(x).flatten(1)
        return self.fc(x)


class FlattenHead(nn.Module):
    """Flatten the last feature map into one linear layer (the seed-000 code for DenseNet/VGG).

    The layer's size depends on the feature grid, so the model only accepts the input size it was
    built for.
    """

    def __init__(self, channels: int, grid: tuple[int, int], num_classes: int):
        super().__init__()
        self.grid = tuple(grid)
        self.fc = nn.Linear(channels * grid[0] * grid[1], num_classes)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        if tuple(x.shape[-2:]) != self.grid:
            raise ValueError(
                f"flatten head built for a {self.grid} feature grid got {tuple(x.shape[-2:])}; "
                "use the image size the model was built with, or head 'gap'"
            )
        return self.fc(x.flatten(1))


def build_head(name: str, shape: torch.Size, num_classes: int) -> nn.Module:
    """A head for features of ``shape`` ([C, H, W] or [C])."""
    choose("head", name, HEADS)
    if name == "flatten":
        return FlattenHead(shape[0], tuple(shape[1:]), num_classes)
    return GapHead(shape[0], num_classes)
