"""Input validation and small numeric helpers shared by the statistics modules."""

from collections.abc import Sequence

import numpy as np

from medattn.errors import ConfigError

# Differences whose spread is below this (relative to their magnitude) are float round-off of equal values:
# ``(b + 0.05) - b`` is not exactly 0.05 for every ``b``.
_RELATIVE_TOLERANCE = 1e-12
# Paired differences are compared after rounding to this many decimals: one rule for "A and B tie" in P(A>B) and
# for zero and tied differences in Wilcoxon's test (0.1 + 0.2 - 0.3 is 5.6e-17, not 0).
TIE_DECIMALS = 12


def as_scores(values: Sequence[float], what: str) -> np.ndarray:
    """``values`` as a 1-D float array, or a one-line ConfigError if it is not 1-D or holds NaN/inf."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{what}: values must be numbers ({error})") from None
    if array.ndim != 1:
        raise ConfigError(f"{what}: expected a flat sequence of numbers, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"{what}: values contain NaN or infinity")
    return array


def as_pairs(a: Sequence[float], b: Sequence[float], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate two arms of paired runs: same length, finite, at least 2 pairs."""
    arm_a, arm_b = as_scores(a, f"metric '{metric}', arm A"), as_scores(b, f"metric '{metric}', arm B")
    if len(arm_a) != len(arm_b):
        raise ConfigError(f"metric '{metric}': arms have different lengths ({len(arm_a)} vs {len(arm_b)} runs)")
    if len(arm_a) < 2:
        raise ConfigError(f"metric '{metric}': need at least 2 paired runs, got {len(arm_a)}")
    return arm_a, arm_b


def check_rope_rho(rope: float, rho: float) -> None:
    """ROPE half-width must be >= 0 and the Nadeau-Bengio correlation in [0, 1)."""
    if not (np.isfinite(rope) and rope >= 0):
        raise ConfigError(f"rope must be a finite number >= 0, got {rope}")
    if not (np.isfinite(rho) and 0 <= rho < 1):
        raise ConfigError(
            f"rho must be in [0, 1) (n_test / (n_test + n_train) of the splits, 0 for independent runs), got {rho}"
        )


def tie_rounded(difference: np.ndarray) -> np.ndarray:
    """Paired differences rounded to ``TIE_DECIMALS`` decimals, so that float round-off of equal scores is an exact
    zero and of equal differences an exact tie (every test that looks for ties uses this)."""
    return np.round(np.asarray(difference, dtype=float), TIE_DECIMALS)


def is_constant(values: np.ndarray) -> bool:
    """True when all values are equal up to float round-off."""
    scale = max(1.0, float(np.max(np.abs(values))))
    return float(np.ptp(values)) <= _RELATIVE_TOLERANCE * scale
