"""What the model zoo offers, for ``medattn models``."""

from medattn.models.attention import attention_names, control_names, get_attention
from medattn.models.backbones import BACKBONES
from medattn.models.heads import HEADS
from medattn.models.placement import PLACEMENTS
from medattn.models.presets import get_preset, preset_names


def catalog() -> dict:
    """Backbones, attention mechanisms (with placements and references), their parameter-matched
    controls, placements, heads, presets."""
    return {
        "backbones": {name: {"timm": e.timm_name, "placements": list(e.placements)} for name, e in BACKBONES.items()},
        "attentions": {
            name: {"placements": list(get_attention(name).placements), "reference": get_attention(name).reference}
            for name in attention_names()
        },
        "controls": {
            name: {"matches": get_attention(name).control_of, "placements": list(get_attention(name).placements)}
            for name in control_names()
        },
        "combinations": ["ga+la", "ga+ela"],
        "valid": [list(c) for c in valid_combinations()],
        "placements": list(PLACEMENTS),
        "heads": list(HEADS),
        "presets": {name: get_preset(name).title for name in preset_names()},
    }


def valid_combinations() -> list[tuple[str, str, str | None]]:
    """Every (backbone, attention, placement) the factory accepts; combinations at their defaults."""
    combos = []
    for backbone, entry in BACKBONES.items():
        combos.append((backbone, "none", None))
        if entry.family == "vit":
            continue
        for name in attention_names():
            combos += [(backbone, name, p) for p in get_attention(name).placements if p in entry.placements]
        if "replace-last" in entry.placements:
            combos += [(backbone, "ga+la", None), (backbone, "ga+ela", None)]
    return combos
