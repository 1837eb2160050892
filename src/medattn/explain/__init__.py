"""Explanations: attribution methods, native attention maps, quality scores, figures, reader study."""
