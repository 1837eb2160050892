"""After training: predictions and metrics of the best-val model on every evaluation split."""

from pathlib import Path

import numpy as np
import torch

from medattn.evaluate.metrics import evaluate_predictions
from medattn.io import check_file_name
from medattn.locks import hold_folder
from medattn.train import rundir
from medattn.train.checkpoint import load_weights
from medattn.train.engine import evaluate


def evaluate_run(
    out: Path, model, data, loaders, loss_fn, precision, to_probs, *, checkpoint: str = "best-val",
    names: dict[str, str] | None = None, reference_val: tuple[np.ndarray, np.ndarray] | None = None,
    own_data: bool = True,
) -> dict:  # fmt: skip
    """Write ``predictions-<name>.csv`` and ``metrics-<name>.json`` for every evaluation split.

    The decision threshold of binary tasks is 0.5 and, chosen on the validation predictions, the
    Youden threshold (both reported). Returns the metrics of every split, keyed by output name. With the run's
    own data each also records ``split_sizes``, the images of every split the run used (``train`` after the data
    regime): the study's Bayesian test reads its rho from them.

    Args:
        names: output name of a split (default: the split's own name).
        reference_val: (probabilities, labels) of the run's own validation split, for the threshold
            when the evaluated data are another dataset's.
        own_data: False when ``data`` is another dataset (its split sizes are not the run's, so none are recorded).
    """
    load_weights(model, rundir.checkpoint_paths(out, checkpoint)[0])
    outputs = {}
    for split, loader in loaders.evaluation.items():
        _, probs, labels = evaluate(model, loader, loss_fn, precision, to_probs)
        outputs[split] = (probs.numpy(), labels.numpy(), loader.dataset.indices)
    val_probs, val_labels = reference_val or outputs.get("val", (None, None, None))[:2]
    results = {}
    splits = sorted({record.split for record in data.source.records if record.split})
    sizes = {split: len(data.indices(split)) for split in splits} if own_data else None
    for split, (probs, labels, indices) in outputs.items():
        paths = [data.source.records[i].path for i in indices]
        split = (names or {}).get(split, split)
        rundir.write_predictions(out, split, paths, labels, probs, data.source.classes)
        results[split] = evaluate_predictions(
            labels, _task_probs(probs), val_labels=val_labels, val_probabilities=_task_probs(val_probs),
            class_names=list(data.source.classes), seed=0,
        )  # fmt: skip
        results[split]["checkpoint"] = checkpoint
        if sizes is not None:
            results[split]["split_sizes"] = sizes
        rundir.write_metrics(out, split, results[split])
    return results


def _task_probs(probs: np.ndarray | None) -> np.ndarray | None:
    """Binary tasks are scored on the positive-class probability."""
    if probs is None:
        return None
    return probs[:, 1] if probs.shape[1] == 2 else probs


def test_run(
    run: str | Path, *, split: str = "test", checkpoint: str = "best-val", data: dict | None = None,
    name: str | None = None,
) -> dict:  # fmt: skip
    """Re-evaluate a finished run on one split with one of its checkpoints.

    Args:
        run: the run directory.
        split: the split to score (``test``, ``val``, ``ood_test`` ...).
        checkpoint: ``best-val``, ``best-train`` or ``last``.
        data: data settings to override (e.g. another ``path`` for an out-of-distribution set). Only
            ``split`` of that dataset is scored, with the threshold chosen on the run's own
            validation predictions, and the run's own result files are left alone.
        name: the result files' name, ``predictions-<name>.csv`` / ``metrics-<name>.json``
            (default: the split's name, or ``external-<split>`` with ``data``).

    Raises:
        ConfigError: another process holds the run directory (it is being trained or tested).
    """
    if name is not None:
        check_file_name(name, "name")
    with hold_folder(run, "run directory"):
        return _test_locked(Path(run), split, checkpoint, data, name)


def _test_locked(run: Path, split: str, checkpoint: str, data: dict | None, name: str | None) -> dict:
    from dataclasses import replace

    from medattn.errors import ConfigError, choose
    from medattn.models import create_model
    from medattn.train.checkpoint import CHECKPOINTS
    from medattn.train.data import build_loaders, other_dataset, prepare_run_data
    from medattn.train.engine import choose_device
    from medattn.train.precision import run_precision
    from medattn.train.setup import build_loss, probabilities

    choose("checkpoint", checkpoint, CHECKPOINTS)
    if not (run / rundir.CONFIG).is_file():
        raise ConfigError(f"{run}: not a run directory (no {rundir.CONFIG})")
    config = rundir.read_config(run)
    if data:
        config = replace(config, data=other_dataset(config.data, data))
    spec = config.train
    prepared = prepare_run_data(config.data, config.model.image_size, spec.seed)
    loaders = build_loaders(prepared, spec, config.model.image_size)
    choose("split", split, [s for s in loaders.evaluation if s != "train"])
    device = choose_device()
    model = create_model(config.model, load_weights=False).to(device, memory_format=torch.channels_last)
    wanted = {split} if data else {"val", split}
    loaders.evaluation = {s: loaders.evaluation[s] for s in wanted if s in loaders.evaluation}
    name = name or (f"external-{split}" if data else split)
    reference_val = stored_validation(run, prepared.source.classes) if data else None
    loss_fn = build_loss(spec, model.spec.num_classes, None)
    precision = run_precision(device, spec.amp, recorded=True)
    to_probs = lambda logits: probabilities(logits, spec)  # noqa: E731
    return evaluate_run(run, model, prepared, loaders, loss_fn, precision, to_probs, checkpoint=checkpoint,
                        names={split: name}, reference_val=reference_val, own_data=not data)[name]  # fmt: skip


def stored_validation(run: Path, classes) -> tuple[np.ndarray, np.ndarray] | None:
    """(probabilities, labels) from the run's ``predictions-val.csv``; None without one.

    Raises:
        ConfigError: the run was trained on other classes than ``classes`` (another dataset's), naming both.
    """
    import pandas as pd

    from medattn.errors import ConfigError

    path = run / "predictions-val.csv"
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError) as exc:  # binary, truncated or empty (pandas' errors are ValueErrors)
        raise ConfigError(f"{path}: damaged predictions file ({' '.join(str(exc).split())[:120]})") from None
    trained = [c.removeprefix("prob_") for c in frame.columns[2:]]
    if list(trained) != list(classes):
        raise ConfigError(
            f"{run}: the run was trained on classes ({', '.join(trained)}); the other dataset has "
            f"({', '.join(map(str, classes))}); check --data and --recipe"
        )
    index = {name: k for k, name in enumerate(classes)}
    labels = frame["label"].map(index) if "label" in frame.columns else None
    if labels is None or labels.isna().any() or not frame.columns[2:].size:
        raise ConfigError(f"{path}: damaged predictions file (labels not among the run's classes)")
    return frame[[f"prob_{c}" for c in classes]].to_numpy(), labels.to_numpy()
