"""Rendering scene plans into images and masks, and the in-memory dataset ``make_lesion_dataset``."""

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from medattn.data.synthetic.anatomy import multiscale_noise, render_anatomy
from medattn.data.synthetic.draws import generator_for
from medattn.data.synthetic.markers import CORRELATED_SPLITS, marker_area, paint_markers
from medattn.data.synthetic.plan import ScenePlan, plan_scenes, sample_patients, take
from medattn.data.synthetic.shapes import render_shapes
from medattn.errors import choose

CHUNK = 128  # images rendered at once; fixed, because each chunk draws its own texture and noise
TINT = torch.tensor([1.0, 0.93, 0.86]).view(1, 3, 1, 1)  # the warm cast of a scanned film
MIN_SIZE = 16
SPLITS = ("train", "val", "test")

# Streams of generator_for(seed, stream, ...): one per purpose, so that adding draws to one part
# (say, the split assignment of the writer) never changes the others.
PATIENT_STREAM, PLAN_STREAM, SPLIT_STREAM, PIXEL_STREAM = range(4)


@dataclass(frozen=True)
class SyntheticBatch:
    """Synthetic scans with exact ground truth.

    Attributes:
        images: [n, 3, s, s] float32 in [0, 1], multiples of 1/255 (what the PNG files hold).
        labels: [n] int64, 1 = lesion, 0 = normal.
        masks: [n, 1, s, s] float32 0/1 lesion masks; all zero for normal images.
        marker: [n] bool, whether the spurious corner marker is present.
        marker_box: [n, 4] int64 marker box ``(x0, y0, x1, y1)`` in pixels, end exclusive; -1 where absent.
        kind: [n] int64 index into ``LESION_KINDS``; -1 for normal images.
        cyst: [n] bool, whether a benign look-alike (cyst) is drawn.
        group: [n] int64 patient index (1-3 consecutive images per patient).
    """

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    marker: torch.Tensor
    marker_box: torch.Tensor
    kind: torch.Tensor
    cyst: torch.Tensor
    group: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


def render_scenes(plan: ScenePlan, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Images [n, 3, s, s] (quantised to 1/255) and float masks [n, 1, s, s] of the planned scenes."""
    n, size, settings = len(plan), plan.size, plan.settings
    texture = multiscale_noise(n, size, generator)
    grey = render_anatomy(plan.anatomy, texture, settings.texture, size)
    lesion, inside = render_shapes(plan.lesions, texture, size)
    cyst, _ = render_shapes(plan.cysts, texture, size)
    grey.add_(lesion.add_(cyst), alpha=settings.contrast)
    grey.add_(torch.randn(n, 1, size, size, generator=generator), alpha=settings.noise)
    area = marker_area(plan.markers, size)
    images = paint_markers((grey * TINT).clamp_(0.0, 1.0), plan.markers, area)
    images = images.mul_(255.0).round_().div_(255.0)
    return images, (inside & ~area).float()


def render_chunks(plan: ScenePlan, seed: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield ``(start, images, masks)`` for consecutive chunks of ``CHUNK`` planned scenes."""
    for chunk, start in enumerate(range(0, len(plan), CHUNK)):
        part = take(plan, slice(start, start + CHUNK))
        yield (start, *render_scenes(part, generator_for(seed, PIXEL_STREAM, chunk)))


def check_request(n: int, size: int) -> None:
    """Reject a dataset that cannot be drawn with a one-line ValueError."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of images must be a positive integer, got {n!r}")
    if not isinstance(size, int) or size < MIN_SIZE:
        raise ValueError(f"image size must be an integer of at least {MIN_SIZE} pixels, got {size!r}")


def make_lesion_dataset(
    n: int,
    size: int = 64,
    *,
    seed: int = 0,
    prevalence: float = 0.5,
    difficulty: float = 0.5,
    shortcut: float | None = None,
    split: str = "train",
) -> SyntheticBatch:
    """Draw ``n`` synthetic scans in memory, bit-identical for the same arguments.

    Args:
        n: number of images.
        size: image side in pixels (at least 16).
        seed: any integer; the same seed gives the same tensors on the same machine and torch version.
        prevalence: probability that a patient (and so each of their images) has a lesion.
        difficulty: 0 (easy) to 1 (hard); see ``difficulty_settings`` for the exact mapping.
        shortcut: probability that the corner marker agrees with the label in train/val (None: no marker).
        split: ``train`` or ``val`` (marker correlated with the label) or ``test`` (marker independent of it).

    Returns:
        A ``SyntheticBatch``. Images of one patient are consecutive and share their anatomy.

    Raises:
        ValueError: an argument outside its range, or an unknown split (the message lists the choices).
    """
    check_request(n, size)
    choose("split", split, SPLITS)
    patients = sample_patients(n, prevalence, generator_for(seed, PATIENT_STREAM))
    correlated = torch.full((n,), split in CORRELATED_SPLITS)
    plan = plan_scenes(
        patients,
        size,
        correlated=correlated,
        difficulty=difficulty,
        shortcut=shortcut,
        generator=generator_for(seed, PLAN_STREAM),
    )
    images, masks = torch.empty(n, 3, size, size), torch.empty(n, 1, size, size)
    for start, chunk_images, chunk_masks in render_chunks(plan, seed):
        images[start : start + len(chunk_images)] = chunk_images
        masks[start : start + len(chunk_masks)] = chunk_masks
    return batch_of(plan, images, masks)


def batch_of(plan: ScenePlan, images: torch.Tensor, masks: torch.Tensor) -> SyntheticBatch:
    """Bundle rendered ``images`` and ``masks`` with the plan's per-image facts."""
    return SyntheticBatch(
        images=images,
        labels=plan.patients.labels,
        masks=masks,
        marker=plan.markers.present,
        marker_box=plan.markers.box,
        kind=plan.patients.kind,
        cyst=plan.cysts.present,
        group=plan.patients.group,
    )
