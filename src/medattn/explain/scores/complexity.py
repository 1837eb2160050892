"""Complexity scores: how concentrated an explanation is, independent of the model and the labels."""

import numpy as np
import torch

from medattn.explain.scores._checks import check_maps


def gini_index(values: torch.Tensor) -> torch.Tensor:
    """Gini index of each row of non-negative ``values`` [B, n] (0 = all equal, 1 - 1/n = one non-zero entry).

    With the row sorted ascending, ``a_(1) <= ... <= a_(n)``:
    ``G = sum_i (2 i - n - 1) a_(i) / (n sum_i a_(i))`` (Hurley & Rickard 2009, "Comparing measures of
    sparsity", IEEE Trans. Inf. Theory 55:4723-4741, as used by Chalasani et al. 2020). A row of zeros
    is a constant row and gets 0.
    """
    n = values.shape[1]
    ordered = values.sort(dim=1).values
    i = torch.arange(1, n + 1, device=values.device, dtype=values.dtype)
    total = ordered.sum(1)
    weighted = ((2 * i - n - 1) * ordered).sum(1)
    return torch.where(total > 0, weighted / (n * total.clamp(min=torch.finfo(values.dtype).tiny)), 0.0)


def sparseness(maps) -> np.ndarray:
    """Sparseness: the Gini index of ``|map|`` over all pixels of each map.

    Chalasani et al. (2020), "Concise explanations of neural networks using adversarial training",
    ICML: a concise (sparse) explanation concentrates its mass on few features. Higher means
    more concentrated: a one-hot map scores ``1 - 1/n`` (n = H W), a constant map 0, a map of
    i.i.d. uniform values 1/3 in expectation. Not a quality score by itself (an all-but-one-zero map
    is maximally sparse); report it next to faithfulness.

    Deviation: quantus 0.6 ``Sparseness`` adds 1e-7 to every value before the index (to avoid 0/0);
    here an all-zero map is defined to be 0 directly, so results differ from quantus by about
    ``1e-7 n / sum|map|``.

    Args:
        maps: explanations ``[B, 1, H, W]``.

    Returns:
        ``[B]`` float array in [0, 1 - 1/n].
    """
    return gini_index(check_maps(maps).flatten(1).abs()).cpu().numpy()
