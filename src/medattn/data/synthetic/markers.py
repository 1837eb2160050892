"""The spurious marker: a small coloured square in a corner, for measuring shortcut learning.

Like the colour calibration patches of dermoscopy images or the rulers and letters burnt into
radiographs, it says nothing about the disease, yet it can be made to agree with the label:

- ``shortcut=None``: no image has a marker.
- ``shortcut=P`` in a correlated split (train, val): the marker is present on a lesion image and
  absent on a normal one with probability ``P``, and the other way round with ``1 - P``
  (``P=1``: a perfect shortcut, ``P=0.5``: no information, ``P=0``: a perfect inverse shortcut).
- ``shortcut=P`` in any other split (test): present with probability 0.5 whatever the label, so
  a classifier that learnt the marker loses accuracy there (the out-of-distribution drop).

The square is ``max(2, round(size / 10))`` pixels wide, in one of the four corners (drawn
uniformly), 1 to ``max(1, size // 16) + 1`` pixels from both edges, in one of ``PALETTE``. It never
overlaps a lesion's centre; pixels of a lesion it covers are removed from the lesion's mask.
"""

from dataclasses import dataclass

import torch

CORRELATED_SPLITS = ("train", "val")
PALETTE = torch.tensor([[0.85, 0.15, 0.15], [0.15, 0.70, 0.25], [0.15, 0.30, 0.85], [0.90, 0.80, 0.10]])


@dataclass(frozen=True)
class Markers:
    """Per-image markers.

    Attributes:
        present: [n] bool.
        box: [n, 4] int64 pixel box ``(x0, y0, x1, y1)``, end exclusive; all -1 where absent.
        colour: [n, 3] RGB in [0, 1].
    """

    present: torch.Tensor
    box: torch.Tensor
    colour: torch.Tensor


def marker_width(size: int) -> int:
    """Side of the marker square in pixels."""
    return max(2, round(size / 10))


def sample_markers(
    labels: torch.Tensor, correlated: torch.Tensor, shortcut: float | None, size: int, generator: torch.Generator
) -> Markers:
    """Markers for images with ``labels`` (0/1); ``correlated`` [n] bool marks train/val images.

    Every draw is made whatever ``shortcut`` is, so the rest of a scene does not depend on it.
    """
    n = len(labels)
    draw = torch.rand(n, generator=generator)
    corner = torch.randint(0, 4, (n,), generator=generator)
    offset = torch.randint(1, max(1, size // 16) + 2, (n, 2), generator=generator)
    colour = PALETTE[torch.randint(0, len(PALETTE), (n,), generator=generator)]
    if shortcut is None:
        present = torch.zeros(n, dtype=torch.bool)
    else:
        lesion = labels.bool()
        present = torch.where(correlated, torch.where(draw < shortcut, lesion, ~lesion), draw < 0.5)
    side = marker_width(size)
    x0 = torch.where(corner % 2 == 0, offset[:, 0], size - offset[:, 0] - side)
    y0 = torch.where(corner < 2, offset[:, 1], size - offset[:, 1] - side)
    box = torch.stack([x0, y0, x0 + side, y0 + side], 1)
    box = torch.where(present.view(-1, 1), box, torch.full_like(box, -1))
    return Markers(present, box, colour)


def marker_area(markers: Markers, size: int) -> torch.Tensor:
    """[n, 1, s, s] bool: the pixels each image's marker covers (none where absent)."""
    position = torch.arange(size)
    x0, y0, x1, y1 = (markers.box[:, i].view(-1, 1) for i in range(4))
    in_x = (position >= x0) & (position < x1)
    in_y = (position >= y0) & (position < y1)
    return (in_y.unsqueeze(2) & in_x.unsqueeze(1)).unsqueeze(1)


def paint_markers(images: torch.Tensor, markers: Markers, area: torch.Tensor) -> torch.Tensor:
    """Images [n, 3, s, s] with each marker's ``area`` filled with its colour."""
    return torch.where(area, markers.colour.view(-1, 3, 1, 1), images)
