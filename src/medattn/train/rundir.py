"""The run directory: stable file names the study runner and the report read."""

import csv
import io
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch

from medattn.config import RunConfig, read_yaml
from medattn.errors import ConfigError
from medattn.io import write_json_atomic, write_text_atomic

CONFIG = "config.yaml"
ENV = "env.json"
HISTORY = "history.csv"
CHECKPOINT_DIR = "checkpoints"
HISTORY_FIELDS = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_auc_roc",
    "val_balanced_accuracy",
    "lr",
    "seconds",
    "images_per_second",
)


def read_config(run: Path) -> RunConfig:
    """The run's ``config.yaml``: a missing, binary, malformed or invalid file is a one-line ConfigError naming it."""
    path = Path(run) / CONFIG
    if not path.is_file():
        raise ConfigError(f"{run}: not a run directory (no {CONFIG})")
    try:
        return RunConfig.from_dict(read_yaml(path), str(path))
    except ConfigError:
        raise
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (binary or damaged); the run's settings cannot be read") from None
    except (TypeError, ValueError, AttributeError) as exc:  # a section that is not a mapping, a value of no use
        raise ConfigError(f"{path}: invalid run settings ({' '.join(str(exc).split())[:160]})") from None


def checkpoint_paths(run: Path, name: str) -> tuple[Path, Path]:
    """(weights, trainer state) of checkpoint ``name`` (best-val, best-train or last)."""
    return run / CHECKPOINT_DIR / f"{name}.safetensors", run / CHECKPOINT_DIR / f"{name}.state.pt"


def environment(seed: int, precision: dict | None = None) -> dict:
    """Library versions, git revision, hardware, precision and seed: what is needed to rebuild the run."""
    packages = {}
    for name in ("medattn", "torch", "torchvision", "timm", "numpy", "scikit-learn", "scipy"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "python": sys.version.split()[0],
        "packages": packages,
        "git_revision": _git_revision(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "seed": seed,
        "precision": precision,
        "command": sys.argv,
    }


def _git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def write_environment(run: Path, seed: int, precision: dict | None = None) -> None:
    write_json_atomic(run / ENV, environment(seed, precision))


def write_history(run: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(run / HISTORY, buffer.getvalue())


def write_predictions(run: Path, split: str, paths: list[str], labels, probabilities, classes) -> Path:
    """``predictions-<split>.csv``: path, label, one probability column per class."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "label", *(f"prob_{c}" for c in classes)])
    for path, label, probs in zip(paths, labels.tolist(), probabilities.tolist(), strict=True):
        writer.writerow([path, classes[label], *(f"{p:.6f}" for p in probs)])
    return write_text_atomic(run / f"predictions-{split}.csv", buffer.getvalue())


def write_metrics(run: Path, split: str, metrics: dict) -> Path:
    return write_text_atomic(run / f"metrics-{split}.json", json.dumps(metrics, indent=2, allow_nan=False) + "\n")
