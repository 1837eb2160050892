"""Explanations: attribution methods, native attention maps, quality scores, figures, reader study."""

from medattn.explain.api import Explanation, explain

__all__ = ["Explanation", "explain"]
