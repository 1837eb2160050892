"""Check and normalise labels and predicted probabilities for :func:`medattn.evaluate.metrics.evaluate_predictions`."""

import numpy as np

TASKS = ("auto", "binary", "multiclass", "multilabel")

# Softmax rows in float16/float32 sum to 1 only approximately; sigmoid outputs passed as softmax miss by far more.
ROW_SUM_TOLERANCE = 1e-2
RANGE_TOLERANCE = 1e-6


def infer_task(labels: np.ndarray, probabilities: np.ndarray) -> str:
    """``multilabel`` for 2-D labels, ``binary`` for [N], [N, 1] or [N, 2] probabilities, else ``multiclass``."""
    if labels.ndim == 2:
        return "multilabel"
    if probabilities.ndim == 1 or (probabilities.ndim == 2 and probabilities.shape[1] <= 2):
        return "binary"
    return "multiclass"


def _integer_labels(labels: np.ndarray, allowed: int, what: str) -> np.ndarray:
    if labels.size and not np.issubdtype(labels.dtype, np.bool_):
        if not np.issubdtype(labels.dtype, np.number) or not np.all(np.isfinite(labels)):
            raise ValueError(f"{what} must be integers in 0..{allowed - 1}")
        if np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() >= allowed:
            raise ValueError(f"{what} must be integers in 0..{allowed - 1}; got values {np.unique(labels)[:10]}")
    return labels.astype(np.int64)


def _probabilities(probabilities: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(probabilities)):
        raise ValueError(f"{what} contain NaN or infinite values")
    if probabilities.size and (probabilities.min() < -RANGE_TOLERANCE or probabilities.max() > 1 + RANGE_TOLERANCE):
        raise ValueError(f"{what} must be probabilities in [0, 1] (apply softmax/sigmoid to logits first)")
    return np.clip(probabilities, 0.0, 1.0)


def _binary(labels: np.ndarray, probabilities: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    if probabilities.ndim == 2 and probabilities.shape[1] in (1, 2):
        probabilities = probabilities[:, -1]
    if labels.ndim != 1 or probabilities.ndim != 1:
        raise ValueError(
            f"binary {what}: labels must be [N] and probabilities [N] or [N, 2]; "
            f"got {labels.shape} and {probabilities.shape}"
        )
    return _integer_labels(labels, 2, f"binary {what} labels"), probabilities


def _multiclass(labels: np.ndarray, probabilities: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    if labels.ndim != 1 or probabilities.ndim != 2 or probabilities.shape[1] < 2:
        raise ValueError(
            f"multiclass {what}: labels must be [N] and probabilities [N, K] with K >= 2; "
            f"got {labels.shape} and {probabilities.shape}"
        )
    if not np.allclose(probabilities.sum(axis=1), 1.0, atol=ROW_SUM_TOLERANCE):
        raise ValueError(
            f"multiclass {what}: probability rows must sum to 1 (softmax); use task='multilabel' for sigmoid"
        )
    return _integer_labels(labels, probabilities.shape[1], f"multiclass {what} labels"), probabilities


def _multilabel(labels: np.ndarray, probabilities: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    if labels.ndim != 2 or probabilities.shape != labels.shape:
        raise ValueError(
            f"multilabel {what}: labels and probabilities must both be [N, L]; got {labels.shape} and "
            f"{probabilities.shape}"
        )
    return _integer_labels(labels, 2, f"multilabel {what} labels"), probabilities


def prepare_binary_scores(labels, scores, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate [N] 0/1 labels and [N] finite real scores (any scale: probabilities, logits, ...).

    Raises:
        ValueError: on different lengths, non-finite scores or labels other than 0/1.
    """
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    if labels.shape != scores.shape or labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"{what}: labels and scores must both be [N], N > 0; got {labels.shape} and {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{what} scores contain NaN or infinite values")
    return _integer_labels(labels, 2, f"{what} labels"), scores


def prepare(labels, probabilities, task: str, what: str = "test") -> tuple[str, np.ndarray, np.ndarray]:
    """Validate one set of predictions and return ``(task, labels, probabilities)`` in canonical shapes.

    Canonical shapes: binary ``[N]`` int labels and ``[N]`` positive-class probabilities; multi-class ``[N]`` and
    ``[N, K]``; multi-label ``[N, L]`` and ``[N, L]``.

    Raises:
        ValueError: unknown task, empty input, mismatched lengths, labels out of range, or values that are not
            probabilities (NaN, outside [0, 1], multi-class rows not summing to 1).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    labels, probabilities = np.asarray(labels), np.asarray(probabilities, dtype=float)
    if labels.shape[:1] != probabilities.shape[:1] or labels.ndim == 0 or len(labels) == 0:
        raise ValueError(
            f"{what} labels and probabilities must have the same, non-zero number of samples; "
            f"got shapes {labels.shape} and {probabilities.shape}"
        )
    probabilities = _probabilities(probabilities, f"{what} probabilities")
    task = infer_task(labels, probabilities) if task == "auto" else task
    check = {"binary": _binary, "multiclass": _multiclass, "multilabel": _multilabel}[task]
    labels, probabilities = check(labels, probabilities, what)
    return task, labels, probabilities


def class_keys(class_names, count: int, what: str) -> list[str]:
    """String keys for per-class/per-label results: the given names, or ``"0"``, ``"1"``, ...

    Raises:
        ValueError: when the number of names differs from the number of classes or labels, or names repeat.
    """
    if class_names is None:
        return [str(k) for k in range(count)]
    keys = [str(name) for name in class_names]
    if len(keys) != count or len(set(keys)) != count:
        raise ValueError(f"class_names must be {count} distinct names, one per {what}; got {len(keys)}")
    return keys
