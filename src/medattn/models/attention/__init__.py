"""Attention mechanisms, one module per file, registered by name (see ``base``)."""

from medattn.models.attention import cbam, eca, gc, local_attn, mldam, nonlocal_attn, se  # noqa: F401 (registers)
from medattn.models.attention.base import (
    AttentionEntry,
    AttentionLayer,
    attention_names,
    get_attention,
    parse_attention,
)

__all__ = ["AttentionEntry", "AttentionLayer", "attention_names", "get_attention", "parse_attention"]
