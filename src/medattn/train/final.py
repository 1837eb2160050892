"""After training: predictions and metrics of the best-val model on every evaluation split."""

from pathlib import Path

import numpy as np

from medattn.evaluate.metrics import evaluate_predictions
from medattn.train import rundir
from medattn.train.checkpoint import load_weights
from medattn.train.engine import evaluate


def evaluate_run(
    out: Path, model, data, loaders, loss_fn, precision, to_probs, *, checkpoint: str = "best-val"
) -> dict:
    """Write ``predictions-<split>.csv`` and ``metrics-<split>.json`` for every evaluation split.

    The decision threshold of binary tasks is 0.5 and, chosen on the validation predictions, the
    Youden threshold (both reported). Returns the test metrics (or the last split's).
    """
    load_weights(model, rundir.checkpoint_paths(out, checkpoint)[0])
    outputs = {}
    for split, loader in loaders.evaluation.items():
        _, probs, labels = evaluate(model, loader, loss_fn, precision, to_probs)
        outputs[split] = (probs.numpy(), labels.numpy(), loader.dataset.indices)
    val_probs, val_labels, _ = outputs.get("val", (None, None, None))
    results = {}
    for split, (probs, labels, indices) in outputs.items():
        paths = [data.source.records[i].path for i in indices]
        rundir.write_predictions(out, split, paths, labels, probs, data.source.classes)
        results[split] = evaluate_predictions(
            labels, _task_probs(probs), val_labels=val_labels, val_probabilities=_task_probs(val_probs),
            class_names=list(data.source.classes), seed=0,
        )  # fmt: skip
        results[split]["checkpoint"] = checkpoint
        rundir.write_metrics(out, split, results[split])
    return results.get("test") or results[next(reversed(results))]


def _task_probs(probs: np.ndarray | None) -> np.ndarray | None:
    """Binary tasks are scored on the positive-class probability."""
    if probs is None:
        return None
    return probs[:, 1] if probs.shape[1] == 2 else probs
