"""Multiple-comparison correction (Holm) and significance marks."""

from collections.abc import Sequence

import numpy as np

from medattn.errors import ConfigError

# Marks for (corrected) p-values, strictest first. Piater et al. (2024, seed 004) Table 2 bolds a value whose
# difference to the base model has p < 0.05 (Welch, uncorrected); a report renders ``significant`` in bold the same
# way and adds the mark so that p < 0.01 is visible too.
MARKS = ((0.01, "**"), (0.05, "*"))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values for one family of comparisons (Holm 1979, Scand. J. Stat. 6:65-70).

    With the m p-values sorted ascending, ``p_adj_(i) = max_{j <= i} min(1, (m - j + 1) * p_(j))``: reject
    hypothesis i at level alpha when ``p_adj_i < alpha``; this controls the family-wise error rate. Same values as
    ``statsmodels.stats.multitest.multipletests(p, method='holm')[1]``.

    Deviation: NaN entries (tests that were not possible) are left out of the family, which then has fewer members,
    and stay NaN in the output.

    Raises:
        ConfigError: when a p-value is outside [0, 1].
    """
    p = np.asarray(p_values, dtype=float).ravel()
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ConfigError(f"Holm: p-values must be in [0, 1], got {p[finite][(p[finite] < 0) | (p[finite] > 1)]}")
    adjusted = np.full_like(p, np.nan)
    family = p[finite]
    order = np.argsort(family, kind="stable")
    multipliers = len(family) - np.arange(len(family))
    stepped = np.minimum(1.0, np.maximum.accumulate(multipliers * family[order]))
    family_adjusted = np.empty_like(family)
    family_adjusted[order] = stepped
    adjusted[finite] = family_adjusted
    return adjusted


def significance_mark(p_value: float | None) -> str:
    """'**' for p < 0.01, '*' for p < 0.05, '' otherwise or when the test was not possible (None/NaN)."""
    if p_value is None or np.isnan(p_value):
        return ""
    for threshold, mark in MARKS:
        if p_value < threshold:
            return mark
    return ""
