"""Scene plans: every random choice of a synthetic dataset except per-pixel texture and noise.

A plan is drawn up front for all images from the seed (a few dozen numbers per image), then
rendered in fixed-size chunks, each with its own generator; so the pixels of image ``i`` depend on
the seed and on the plan, never on how the work is batched or written.
"""

from dataclasses import dataclass, fields, is_dataclass, replace

import torch

from medattn.data.synthetic.anatomy import Anatomy, sample_anatomy
from medattn.data.synthetic.markers import Markers, sample_markers
from medattn.data.synthetic.shapes import LESION_KINDS, Shapes, sample_cysts, sample_lesions

MAX_IMAGES_PER_PATIENT = 3


@dataclass(frozen=True)
class Difficulty:
    """Rendering settings derived from a difficulty ``d`` in [0, 1] by ``difficulty_settings``.

    Attributes:
        contrast: brightness a lesion or cyst adds to the tissue at full opacity (grey levels in [0, 1]).
        size: factor on every lesion and cyst radius.
        noise: standard deviation of the per-pixel Gaussian noise.
        texture: peak-to-peak amplitude of the smooth tissue texture.
    """

    contrast: float
    size: float
    noise: float
    texture: float


def difficulty_settings(difficulty: float) -> Difficulty:
    """Map ``difficulty`` (0 easy, 1 hard) linearly onto contrast, size, noise and texture.

    The exact mapping, for ``d`` in [0, 1]::

        contrast = 0.35 - 0.25 d   (0.35 .. 0.10; low-contrast lesions get half of it)
        size     = 1.00 - 0.40 d   (lesion base radius 0.14-0.24 of the half-width .. 0.084-0.144)
        noise    = 0.02 + 0.06 d   (0.02 .. 0.08)
        texture  = 0.10 + 0.08 d   (0.10 .. 0.18)

    For comparison, the body is at grey level 0.26-0.34 and the organ at 0.40-0.48.

    Raises:
        ValueError: ``difficulty`` outside [0, 1].
    """
    if not (isinstance(difficulty, int | float) and 0.0 <= difficulty <= 1.0):
        raise ValueError(f"difficulty must be a number in [0, 1], got {difficulty!r}")
    d = float(difficulty)
    return Difficulty(contrast=0.35 - 0.25 * d, size=1.0 - 0.4 * d, noise=0.02 + 0.06 * d, texture=0.10 + 0.08 * d)


@dataclass(frozen=True)
class Patients:
    """Who is who: 1-3 consecutive images per patient; label and lesion kind are per patient.

    Attributes:
        group: [n] int64 patient index of each image (0, 0, 1, 2, 2, 2, ...).
        labels: [n] int64, 1 = lesion.
        kind: [n] int64 index into ``LESION_KINDS``; -1 for normal images.
    """

    group: torch.Tensor
    labels: torch.Tensor
    kind: torch.Tensor


@dataclass(frozen=True)
class ScenePlan:
    """Everything about ``n`` scenes but their texture and noise (see the module docstring)."""

    size: int
    settings: Difficulty
    patients: Patients
    anatomy: Anatomy
    lesions: Shapes
    cysts: Shapes
    markers: Markers

    def __len__(self) -> int:
        return len(self.patients.group)


def sample_patients(n: int, prevalence: float, generator: torch.Generator) -> Patients:
    """Group ``n`` images into patients of 1-3 images; each patient has a lesion with probability ``prevalence``."""
    if not 0.0 <= prevalence <= 1.0:
        raise ValueError(f"prevalence must be in [0, 1], got {prevalence!r}")
    sizes = torch.randint(1, MAX_IMAGES_PER_PATIENT + 1, (n,), generator=generator)
    group = torch.repeat_interleave(torch.arange(n), sizes)[:n]
    has_lesion = torch.rand(n, generator=generator) < prevalence
    kind = torch.randint(0, len(LESION_KINDS), (n,), generator=generator)
    labels = has_lesion[group].long()
    return Patients(group=group, labels=labels, kind=torch.where(labels == 1, kind[group], -1))


def plan_scenes(
    patients: Patients,
    size: int,
    *,
    correlated: torch.Tensor,
    difficulty: float,
    shortcut: float | None,
    generator: torch.Generator,
) -> ScenePlan:
    """Draw anatomy, lesion, cyst and marker of every image; ``correlated`` [n] bool marks train/val images."""
    if shortcut is not None and not 0.0 <= shortcut <= 1.0:
        raise ValueError(f"shortcut must be None or a probability in [0, 1], got {shortcut!r}")
    settings = difficulty_settings(difficulty)
    anatomy = sample_anatomy(patients.group, generator)
    organ = (anatomy.organ_centre, anatomy.organ_axes, anatomy.organ_angle)
    lesions = sample_lesions(patients.kind, organ, settings.size, generator)
    cysts = sample_cysts(lesions, organ, settings.size, generator)
    markers = sample_markers(patients.labels, correlated, shortcut, size, generator)
    return ScenePlan(size, settings, patients, anatomy, lesions, cysts, markers)


def take(value, index):
    """``value`` with every tensor in it (through nested dataclasses) indexed by ``index``."""
    if isinstance(value, torch.Tensor):
        return value[index]
    if is_dataclass(value) and not isinstance(value, Difficulty):
        return replace(value, **{f.name: take(getattr(value, f.name), index) for f in fields(value)})
    return value
