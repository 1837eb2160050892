"""Attention registry: every mechanism is registered by name with its placement rules."""

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from medattn.errors import ConfigError


class AttentionLayer(nn.Module):
    """Base class of every attention mechanism, so they can be found in a built model."""


@dataclass(frozen=True)
class AttentionEntry:
    """How a named mechanism is built and where it may go.

    Attributes:
        name: registry key (``se``, ``cbam`` ...).
        build: callable building the module; its signature depends on ``placements``.
        placements: valid placements, the first is the default.
        reference: paper the implementation follows.
        default_strides: ``stage`` placement without explicit stages goes after the feature levels
            whose output stride is in this tuple; None means after every stage of the backbone.
    """

    name: str
    build: Callable[..., nn.Module]
    placements: tuple[str, ...]
    reference: str
    default_strides: tuple[int, ...] | None = None


_REGISTRY: dict[str, AttentionEntry] = {}


def register_attention(
    name: str, *, placements: tuple[str, ...], reference: str, default_strides: tuple[int, ...] | None = None
):
    """Class decorator adding an attention module to the registry under ``name``."""

    def wrap(cls):
        _REGISTRY[name] = AttentionEntry(name, cls, placements, reference, default_strides)
        return cls

    return wrap


def attention_names() -> list[str]:
    """Registered single mechanisms, in registration order."""
    return list(_REGISTRY)


def get_attention(name: str) -> AttentionEntry:
    """Look a mechanism up by name; unknown names raise a ConfigError listing the valid ones."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown attention '{name}'; choose one of: none, {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def parse_attention(spec: str) -> list[AttentionEntry]:
    """Split ``'ga+la'`` into its registry entries; ``'none'`` gives an empty list."""
    if spec in ("none", "", None):
        return []
    return [get_attention(part.strip()) for part in spec.split("+")]
