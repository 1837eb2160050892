"""Attention registry: every mechanism is registered by name with its placement rules."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

from medattn.errors import ConfigError

CONTROL_PREFIX = "matched-"
CONTROL_PLACEMENTS = ("block", "stage")  # where a parameter-matched control can stand in (see ``control``)


class AttentionLayer(nn.Module):
    """Base class of every attention mechanism, so they can be found in a built model."""


@dataclass(frozen=True)
class AttentionEntry:
    """How a named mechanism is built and where it may go.

    Attributes:
        name: registry key (``se``, ``cbam`` ...).
        build: callable building the module; its signature depends on ``placements``. A control's
            ``build(**options)`` returns the ``make(channels)`` of one model (see ``position_builder``).
        placements: valid placements, the first is the default.
        reference: paper the implementation follows.
        default_strides: ``stage`` placement without explicit stages goes after the feature levels
            whose output stride is in this tuple; None means after every stage of the backbone.
        control_of: for a parameter-matched control (``matched-se``, see ``control``), the mechanism
            it stands in for; None for a mechanism.
    """

    name: str
    build: Callable[..., nn.Module]
    placements: tuple[str, ...]
    reference: str
    default_strides: tuple[int, ...] | None = None
    control_of: str | None = None

    def position_builder(self, options: dict) -> Callable[[int], nn.Module]:
        """``make(channels)`` building the module at each ``block``/``stage`` position of one model.

        A mechanism's modules are independent; a control's are not (each one evens out the
        parameter difference its predecessors left), so a control's build makes a fresh ``make``.
        """
        return self.build(**options) if self.control_of else partial(self.build, **options)


_REGISTRY: dict[str, AttentionEntry] = {}


def register_attention(
    name: str, *, placements: tuple[str, ...], reference: str, default_strides: tuple[int, ...] | None = None
):
    """Class decorator adding an attention module to the registry under ``name``."""

    def wrap(cls):
        register_entry(AttentionEntry(name, cls, placements, reference, default_strides))
        return cls

    return wrap


def register_entry(entry: AttentionEntry) -> None:
    """Add a ready-made entry (the controls of ``control`` are built this way)."""
    _REGISTRY[entry.name] = entry


def attention_names() -> list[str]:
    """Registered single mechanisms, in registration order (controls excluded)."""
    return [name for name, entry in _REGISTRY.items() if entry.control_of is None]


def control_names() -> list[str]:
    """Registered parameter-matched controls (``matched-<mechanism>``), in registration order."""
    return [name for name, entry in _REGISTRY.items() if entry.control_of is not None]


def controlled_mechanism(attention: str) -> str:
    """The mechanisms an attention spec stands for: ``matched-se`` -> ``se``, ``matched-ga+la`` -> ``ga+la``.

    Presets key their options and tuned hyperparameters by mechanism; a control takes its mechanism's.
    """
    return "+".join(part.removeprefix(CONTROL_PREFIX) for part in attention.split("+"))


def get_attention(name: str) -> AttentionEntry:
    """Look a mechanism or control up by name; unknown names raise a ConfigError listing the valid ones."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    mechanism = _REGISTRY.get(controlled_mechanism(name))
    if name.startswith(CONTROL_PREFIX) and mechanism is not None:
        raise ConfigError(
            f"attention '{name}': '{mechanism.name}' goes only at placement {', '.join(mechanism.placements)}, "
            f"not {' or '.join(CONTROL_PLACEMENTS)}, so it has no parameter-matched control; "
            f"controls: {', '.join(control_names())}"
        )
    raise ConfigError(f"unknown attention '{name}'; choose one of: none, {', '.join(_REGISTRY)}")


def parse_attention(spec: str) -> list[AttentionEntry]:
    """Split ``'ga+la'`` into its registry entries; ``'none'`` gives an empty list."""
    if spec in ("none", "", None):
        return []
    return [get_attention(part.strip()) for part in spec.split("+")]
