"""Checks that a model is safe for attribution methods (no in-place ops, no module reused)."""

from collections import Counter
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def counting_module_calls(model: nn.Module):
    """Count forward calls per named leaf module; hooks are removed even if the body raises."""
    counts: Counter = Counter()
    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: counts.update([name]))
        for name, module in model.named_modules()
        if not list(module.children())
    ]
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()


def explainer_problems(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Reasons attribution methods would go silently wrong on ``model`` (empty list: none).

    Reports modules with ``inplace=True`` and leaf modules called more than once in one forward
    pass (DeepLIFT/LRP keep one state per module and break on reuse).
    """
    problems = [f"{name}: in-place operation" for name, m in model.named_modules() if getattr(m, "inplace", False)]
    with counting_module_calls(model) as counts, torch.no_grad():
        model(x)
    problems += [f"{name}: called {n} times in one forward" for name, n in counts.items() if n > 1]
    return problems
