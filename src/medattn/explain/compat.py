"""Which method runs on which architecture: the method x architecture table of docs/explanations.md.

Every method is run on every backbone x attention combination of the model factory on a small
input. A cell is ``ok`` when the method returns finite maps of the right shape, or ``refused`` with
the one-line reason the method gives (it names the layer it cannot handle). The tests compute the
same table and compare it with the published one, so the documentation cannot go stale.

Run ``python -m medattn.explain.compat`` to print the table.
"""

import re
from dataclasses import dataclass

import torch

from medattn.config import ModelSpec
from medattn.errors import ConfigError
from medattn.explain.api import explain
from medattn.explain.methods import METHODS
from medattn.models import create_model
from medattn.models.catalog import valid_combinations

IMAGE_SIZE = 32
# Cheap settings: the table is about whether a method runs correctly, not about map quality.
CHEAP_OPTIONS = {
    "integrated-gradients": {"n_steps": 4},
    "smoothgrad": {"n_samples": 2},
    "occlusion": {"window": 16, "stride": 16},
}


@dataclass(frozen=True)
class Cell:
    """One method on one architecture: ``ok`` or ``refused`` with the reason."""

    status: str
    reason: str = ""


def build_small(backbone: str, attention: str, placement: str | None) -> torch.nn.Module:
    """The combination at the table's image size, three classes, random weights, eval mode."""
    spec = ModelSpec(backbone=backbone, attention=attention, placement=placement, num_classes=3, image_size=IMAGE_SIZE)
    return create_model(spec).eval()


def check_cell(model: torch.nn.Module, images: torch.Tensor, method: str) -> Cell:
    """Run ``method`` twice; a refusal must be a one-line ConfigError; wrong shapes, non-finite or
    irreproducible maps are bugs (raised)."""
    options = CHEAP_OPTIONS.get(method, {})
    try:
        maps = explain(model, images, "predicted", method, seed=1, **options).maps
    except ConfigError as error:
        message = str(error)
        if "\n" in message:
            raise AssertionError(f"{method}: refusal is not one line: {message!r}") from error
        return Cell("refused", message)
    if maps.shape != (len(images), 1, *images.shape[-2:]) or not torch.isfinite(maps).all():
        raise AssertionError(f"{method}: maps of shape {tuple(maps.shape)}, finite={bool(torch.isfinite(maps).all())}")
    again = explain(model, images, "predicted", method, seed=1, **options).maps
    if not torch.allclose(maps, again, rtol=1e-5, atol=1e-7):
        raise AssertionError(f"{method}: the same input and seed gave another map")
    return Cell("ok")


def combination_name(backbone: str, attention: str, placement: str | None) -> str:
    """Row label, e.g. ``resnet18 + cbam (block)``."""
    return backbone if attention == "none" else f"{backbone} + {attention} ({placement})"


def row(backbone: str, attention: str, placement: str | None, methods=tuple(METHODS)) -> dict[str, Cell]:
    """Every method on one combination (one model build, one small batch)."""
    model = build_small(backbone, attention, placement)
    images = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(0))
    return {method: check_cell(model, images, method) for method in methods}


def markdown_table(rows: dict[str, dict[str, Cell]]) -> str:
    """Markdown table: one row per combination, one column per method, ok / refused marks."""
    methods = list(next(iter(rows.values())))
    lines = ["| architecture | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for name, cells in rows.items():
        marks = ["ok" if cells[m].status == "ok" else "refused" for m in methods]
        lines.append(f"| {name} | " + " | ".join(marks) + " |")
    return "\n".join(lines)


def main() -> None:
    """Print the table for every valid combination."""
    rows = {combination_name(*combo): row(*combo) for combo in valid_combinations()}
    print(markdown_table(rows))
    print("\nWhy a method refuses (the messages name the layer; here one line per kind of layer):\n")
    for reason in refusal_kinds(rows):
        print(f"- {reason}")


def refusal_kinds(rows: dict[str, dict[str, Cell]]) -> list[str]:
    """The refusal messages with layer names and module lists removed, one per kind."""
    kinds = set()
    for cells in rows.values():
        for cell in cells.values():
            if cell.status == "refused":
                reason = re.sub(r"layer '[^']*' ", "", cell.reason)
                kinds.add(re.sub(r" \([A-Za-z, ]*\); ", "; ", reason))
    return sorted(kinds)


if __name__ == "__main__":
    main()
