"""Attention mechanisms, one module per file, registered by name (see ``base``)."""
# ruff: noqa: I001, F401 (import order is the registry's display order; imports register)

from medattn.models.attention import se, cbam, gc, eca, nonlocal_attn, local_attn, mldam
from medattn.models.attention import control  # last: registers a control for each mechanism above
from medattn.models.attention.base import (
    AttentionEntry,
    AttentionLayer,
    attention_names,
    control_names,
    get_attention,
    parse_attention,
)

__all__ = ["AttentionEntry", "AttentionLayer", "attention_names", "control_names", "get_attention", "parse_attention"]
