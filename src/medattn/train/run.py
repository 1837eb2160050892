"""``train_run``: a whole run, from config to checkpoints, history, predictions and metrics.

Every epoch ends with the last checkpoint and the trainer state written atomically, so a run
killed at any moment resumes from its last completed epoch. Each epoch's randomness (shuffling,
augmentation, dropout) is seeded from (seed, epoch), so a resumed deterministic run ends with the
same weights as an uninterrupted one.
"""

import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from medattn.config import RunConfig, TrainSpec, write_yaml
from medattn.errors import ConfigError
from medattn.locks import hold_folder
from medattn.models import create_model
from medattn.train import rundir
from medattn.train.checkpoint import model_state, restore_trainer_state, save_trainer_state, save_weights
from medattn.train.data import Loaders, build_loaders, prepare_run_data, write_dropped_listing
from medattn.train.distributed import Distributed
from medattn.train.engine import choose_device, evaluate, train_epoch
from medattn.train.final import evaluate_run
from medattn.train.loggers import flat_params, open_loggers
from medattn.train.precision import Precision, run_precision
from medattn.train.protocols import check_model, validate_train
from medattn.train.setup import (
    build_loss,
    build_optimizer,
    build_scheduler,
    class_weight_tensor,
    outputs_for_data,
    probabilities,
)


def seed_everything(seed: int, deterministic: bool) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def _val_scores(probs: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    if len(labels) == 0 or len(labels.unique()) < 2:
        return math.nan, math.nan
    y, p = labels.numpy(), probs.numpy()
    auc = roc_auc_score(y, p[:, 1]) if p.shape[1] == 2 else roc_auc_score(y, p, multi_class="ovr")
    return float(auc), float(balanced_accuracy_score(y, p.argmax(1)))


def _check_new_run(config: RunConfig | None) -> None:
    """Every check a new run's settings can get without its data (a hand-built config gets the CLI's checks)."""
    if not isinstance(config, RunConfig):
        raise ConfigError(f"a new run needs a RunConfig, got {type(config).__name__}")
    validate_train(config.train)
    check_model(config.model)


def _open_run(config: RunConfig | None, out: Path, resume: bool) -> RunConfig:
    if resume:
        if not (out / rundir.CONFIG).is_file():
            raise ConfigError(f"--resume {out}: not a run directory (no {rundir.CONFIG})")
        return rundir.read_config(out)
    if (out / rundir.CONFIG).exists():
        raise ConfigError(f"--out {out}: already holds a run; use --resume {out} or another --out")
    return config


@dataclass
class Session:
    """What one epoch needs: the model (and its DDP wrapper), data, loss, optimiser and precision."""

    spec: TrainSpec
    model: torch.nn.Module
    trained: torch.nn.Module
    loaders: Loaders
    loss_fn: Callable
    optimizer: torch.optim.Optimizer
    scheduler: object
    precision: Precision
    scaler: torch.amp.GradScaler | None

    def to_probs(self, logits: torch.Tensor) -> torch.Tensor:
        return probabilities(logits, self.spec)


def train_run(config: RunConfig | None, out: str | Path, *, resume: bool = False, reporter=None) -> dict:
    """Train (or resume) a run in ``out`` and evaluate it; returns the test metrics (val without a test split).

    Args:
        config: the resolved run configuration (ignored with ``resume``: the run's own is used).
        out: the run directory.
        resume: continue the run in ``out`` from its last completed epoch.
        reporter: optional ``medattn.train.report.Reporter`` for progress display.

    Raises:
        ConfigError: another process holds the run directory's lock (``medattn.locks``; torchrun's other ranks
            train under rank 0's lock).
    """
    out = Path(out)
    if not resume:  # before the run directory (or its lock) is made: a refused run leaves nothing behind
        _check_new_run(config)
    with hold_folder(out, "run directory") if os.environ.get("RANK", "0") == "0" else nullcontext():
        return _train_locked(config, out, resume, reporter)


def _train_locked(config: RunConfig | None, out: Path, resume: bool, reporter) -> dict:
    config = _open_run(config, out, resume)
    validate_train(config.train)  # a hand-built TrainSpec gets the same checks as the CLI's
    dist = Distributed.from_environment()
    seed_everything(config.train.seed, config.train.deterministic)
    data = _prepare_once(dist, config, config.model.image_size or 224)
    session = _start(config, data, dist, out, resume)
    if dist.is_main:
        listing = write_dropped_listing(out, data)
        if reporter:
            total = len(data.source.records) + len(data.source.skipped)
            reporter.data_losses(len(data.dropped), len(data.exclusions), total, listing)
    state = _restore(out, session) if resume else _fresh_state()
    loggers = open_loggers(config.train.log, out, flat_params(config.to_dict())) if dist.is_main else []
    for epoch in range(state["epoch"], config.train.epochs):
        if _early_stopped(state, config.train):
            break
        row = _epoch(session, epoch, dist, reporter)
        if dist.is_main:
            _end_epoch(out, session, state, row)
        for logger in loggers:
            logger.log(row)
        if reporter:
            reporter.epoch_done(row)
    for logger in loggers:
        logger.close()
    dist.barrier()
    results = {}
    if dist.is_main:
        results = evaluate_run(
            out, session.model, data, session.loaders, session.loss_fn, session.precision, session.to_probs
        )
    dist.close()
    return results.get("test") or results.get("val", {})


def _start(config: RunConfig, data, dist: Distributed, out: Path, resume: bool) -> Session:
    """Build the model, loaders, loss, optimiser and schedule; a new run writes config.yaml and env.json."""
    spec, image_size = config.train, config.model.image_size or 224
    device = dist.device or choose_device()
    model_spec = outputs_for_data(config.model, data.source.classes, str(config.data.path or "the synthetic data"))
    model = create_model(model_spec).to(device, memory_format=torch.channels_last)
    loaders = build_loaders(data, spec, image_size, distributed=dist.active)
    if "val" not in loaders.evaluation:
        raise ConfigError("the data has no validation split; set a validation fraction above 0")
    weights = class_weight_tensor(spec, loaders.train_labels, model.spec.num_classes)
    loss_fn = build_loss(spec, model.spec.num_classes, None if weights is None else weights.to(device))
    precision = run_precision(device, spec.amp, recorded=resume, model=model, image_size=image_size)
    if dist.is_main and not resume:  # only once every setting has been checked against the data
        recorded = replace(config, model=model.spec, train=replace(spec, amp=precision.amp_mode))
        write_yaml(out / rundir.CONFIG, recorded.to_dict())
        rundir.write_environment(out, spec.seed, precision={"chosen": precision.name, **precision.record})
    optimizer = build_optimizer(model, spec)
    scaler = torch.amp.GradScaler("cuda") if precision.dtype == torch.float16 else None
    return Session(
        spec, model, dist.wrap(model), loaders, loss_fn, optimizer, build_scheduler(optimizer, spec), precision, scaler
    )


def _epoch(session: Session, epoch: int, dist: Distributed, reporter) -> dict:
    """Train one epoch (randomness seeded from seed and epoch), validate, step the schedule."""
    spec = session.spec
    torch.manual_seed(spec.seed * 100_003 + epoch)
    dist.set_epoch(session.loaders.train, epoch)
    start = time.perf_counter()
    progress = reporter.epoch(epoch, spec.epochs, len(session.loaders.train)) if reporter else None
    train_loss, speed = train_epoch(
        session.trained, session.loaders.train, session.loss_fn, session.optimizer, session.precision, epoch=epoch,
        grad_clip=spec.grad_clip, scaler=session.scaler, progress=progress,
    )  # fmt: skip
    val = session.loaders.evaluation["val"]
    val_loss, val_probs, val_labels = evaluate(session.model, val, session.loss_fn, session.precision, session.to_probs)
    auc, balanced = _val_scores(val_probs, val_labels)
    lr = session.optimizer.param_groups[0]["lr"]
    if spec.schedule == "plateau":
        session.scheduler.step(val_loss)
    else:
        session.scheduler.step()
    return {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "val_auc_roc": auc,
            "val_balanced_accuracy": balanced, "lr": lr, "seconds": time.perf_counter() - start,
            "images_per_second": speed}  # fmt: skip


def _fresh_state() -> dict:
    return {"epoch": 0, "history": [], "best_val": math.inf, "best_train": math.inf, "stale_epochs": 0}


def _prepare_once(dist: Distributed, config: RunConfig, image_size: int):
    """The main process writes (synthetic data) and decodes first; the others then reuse its cache."""
    data = prepare_run_data(config.data, image_size, config.train.seed) if dist.is_main else None
    dist.barrier()
    return data or prepare_run_data(config.data, image_size, config.train.seed)


def _early_stopped(state: dict, spec) -> bool:
    return spec.patience is not None and state["stale_epochs"] >= spec.patience


def _end_epoch(out: Path, session: Session, state: dict, row: dict) -> None:
    """Record the epoch and write checkpoints: best-val and best-train when improved, always last."""
    model, optimizer, scheduler = session.model, session.optimizer, session.scheduler
    state["history"].append(row)
    state["epoch"] = row["epoch"]
    improved = row["val_loss"] < state["best_val"]
    state["stale_epochs"] = 0 if improved else state["stale_epochs"] + 1
    if improved:
        state["best_val"] = row["val_loss"]
        save_weights(model, rundir.checkpoint_paths(out, "best-val")[0])
    if row["train_loss"] < state["best_train"]:
        state["best_train"] = row["train_loss"]
        save_weights(model, rundir.checkpoint_paths(out, "best-train")[0])
    weights, trainer = rundir.checkpoint_paths(out, "last")
    save_weights(model, weights)
    # the trainer state carries its own copy of the weights: resuming reads one file, written atomically,
    # so a kill between the two writes cannot pair the newer weights with the older optimiser state
    save_trainer_state({**state, "model": model_state(model), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict()}, trainer)  # fmt: skip
    rundir.write_history(out, state["history"])


def _restore(out: Path, session: Session) -> dict:
    """The state after the last completed epoch (a run killed in its first epoch starts afresh)."""
    weights, trainer = rundir.checkpoint_paths(out, "last")
    if not trainer.is_file():
        return _fresh_state()
    return restore_trainer_state(trainer, session.model, session.optimizer, session.scheduler, weights)
