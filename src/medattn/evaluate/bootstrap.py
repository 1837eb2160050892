"""Percentile bootstrap over samples, stratified by class, evaluated as weight matrices.

Reference: Efron & Tibshirani (1993), An Introduction to the Bootstrap, ch. 13 (percentile interval).
"""

from collections.abc import Callable, Iterator

import numpy as np

Statistic = Callable[[np.ndarray], dict[str, np.ndarray]]

# Rows of the [R, N] weight matrix per chunk: bounds memory at about 8 MB per [R, N] float array whatever N is.
CHUNK_ELEMENTS = 1_000_000


def resample_weights(
    strata: np.ndarray | None, n_samples: int, n_bootstrap: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Yield [R, N] bootstrap weights (how often each sample is drawn), ``n_bootstrap`` rows in all, in chunks.

    Each chunk draws its resample index matrix with ``rng.integers`` and counts it per row. With ``strata`` (one class
    label per sample) every stratum is resampled separately with its own size, so each resample keeps the class counts
    of the data, both classes included; without, samples are drawn from all N.
    """
    groups = [np.arange(n_samples)] if strata is None else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    rows = max(1, CHUNK_ELEMENTS // max(n_samples, 1))
    for start in range(0, n_bootstrap, rows):
        size = min(rows, n_bootstrap - start)
        weights = np.zeros((size, n_samples))
        for members in groups:
            drawn = rng.integers(0, len(members), size=(size, len(members)))
            flat = (np.arange(size)[:, None] * len(members) + drawn).ravel()
            weights[:, members] = np.bincount(flat, minlength=size * len(members)).reshape(size, len(members))
        yield weights


def run_bootstrap(
    statistic: Statistic, n_samples: int, *, strata: np.ndarray | None, n_bootstrap: int, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Point estimates (all weights one) and the bootstrap distribution of every array ``statistic`` returns.

    Returns:
        ``(point, samples)``: ``point[key]`` is ``statistic(ones)[key][0]``; ``samples[key]`` stacks the values of the
        ``n_bootstrap`` resamples along the first axis (empty when ``n_bootstrap`` is 0).
    """
    point = {key: value[0] for key, value in statistic(np.ones((1, n_samples))).items()}
    chunks = [statistic(w) for w in resample_weights(strata, n_samples, n_bootstrap, np.random.default_rng(seed))]
    samples = {
        key: np.concatenate([c[key] for c in chunks]) if chunks else np.empty((0, *np.shape(value)))
        for key, value in point.items()
    }
    return point, samples


def as_json_number(value: float) -> float | None:
    """A float for JSON, or ``None`` for NaN and infinities (undefined values)."""
    value = float(value)
    return value if np.isfinite(value) else None


def interval(value: float, samples: np.ndarray, confidence: float) -> dict[str, float | None]:
    """``{"value", "ci_low", "ci_high"}`` with the percentile interval of the finite bootstrap values.

    Resamples where the metric is undefined (e.g. a multi-label resample without a positive) are left out, so the
    interval is conditional on the metric being defined. Everything is ``None`` when the point value is undefined;
    the bounds are ``None`` when no resample is defined (or no resample was drawn).
    """
    point = as_json_number(value)
    finite = samples[np.isfinite(samples)]
    if point is None or finite.size == 0:
        return {"value": point, "ci_low": None, "ci_high": None}
    tail = 50.0 * (1.0 - confidence)
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return {"value": point, "ci_low": float(low), "ci_high": float(high)}
