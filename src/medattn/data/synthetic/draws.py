"""Random draws shared by the samplers: seeded generators and uniform ranges."""

import numpy as np
import torch


def generator_for(seed: int, *stream: int) -> torch.Generator:
    """An independent CPU generator for ``(seed, *stream)``.

    The state is derived with numpy's ``SeedSequence`` so that neighbouring seeds and streams share
    nothing; any integer seed (negative too) is accepted.
    """
    entropy = [int(seed) % 2**64, *(int(s) for s in stream)]
    state = np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def uniform(generator: torch.Generator, shape: int | tuple[int, ...], low, high) -> torch.Tensor:
    """Uniform draws in ``[low, high)``; ``low``/``high`` may be tensors that broadcast to ``shape``."""
    shape = (shape,) if isinstance(shape, int) else shape
    return low + (high - low) * torch.rand(shape, generator=generator)
