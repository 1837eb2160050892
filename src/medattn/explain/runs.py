"""Trained runs and their evaluation images, ready to explain (one model build and load per run)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from medattn.config import RunConfig
from medattn.data.dataset import CachedImageDataset
from medattn.data.transforms import build_transform
from medattn.errors import ConfigError, choose
from medattn.explain.targets import TargetModel, head_kind
from medattn.locks import holder
from medattn.models import create_model
from medattn.train import rundir
from medattn.train.checkpoint import CHECKPOINTS, load_weights
from medattn.train.data import other_dataset, prepare_run_data
from medattn.train.engine import choose_device
from medattn.train.final import stored_validation


@dataclass
class LoadedRun:
    """A run's trained model, wrapped for explanation, in eval mode on the chosen device."""

    name: str
    path: Path
    config: RunConfig
    model: TargetModel


def read_run_config(path: Path) -> RunConfig:
    """The resolved config of a run directory (one-line error when it is not one)."""
    if not (path / rundir.CONFIG).is_file():
        raise ConfigError(f"{path}: not a run directory (no {rundir.CONFIG})")
    return rundir.read_config(path)


def run_names(paths: list[Path]) -> list[str]:
    """Short unique names: the folder name, with its parent where two folders share a name."""
    names = [p.name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.parent.name}/{p.name}" for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return names


def load_runs(
    paths: list[Path], checkpoint: str = "best-val", device: torch.device | None = None, names: list[str] | None = None
) -> list[LoadedRun]:
    """Build each run's model once and load its checkpoint; ``names`` label the models (default: folder names)."""
    choose("checkpoint", checkpoint, CHECKPOINTS)
    device = device or choose_device()
    configs = [read_run_config(Path(p)) for p in paths]
    sizes = {c.model.image_size for c in configs}
    if len(sizes) > 1:
        raise ConfigError(f"runs have different image sizes {sorted(sizes)}; explain runs of one image size together")
    runs = []
    for path, name, config in zip(paths, names or run_names([Path(p) for p in paths]), configs, strict=True):
        if busy := holder(path):  # its checkpoints are those of a half-trained model
            raise ConfigError(f"{path}: in use by another medattn process ({busy}); explain it when that ends")
        weights = rundir.checkpoint_paths(Path(path), checkpoint)[0]
        if not weights.is_file():
            raise ConfigError(f"{path}: no '{checkpoint}' checkpoint ({weights.name}); has the run finished an epoch?")
        model = create_model(config.model, load_weights=False)
        load_weights(model, weights)
        runs.append(LoadedRun(name, Path(path), config, TargetModel(model.to(device).eval(), head_kind(model))))
    return runs


@dataclass
class EvaluationImages:
    """One split of the runs' dataset, un-augmented, with masks where the dataset has them."""

    dataset: CachedImageDataset
    paths: list[str]
    classes: tuple[str, ...]
    has_masks: bool

    @property
    def labels(self) -> np.ndarray:
        return self.dataset.labels.numpy()

    def batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Images [n, 3, S, S] (normalised), labels [n], masks [n, 1, S, S] bool or None."""
        items = [self.dataset[int(i)] for i in rows]
        images = torch.stack([item[0] for item in items])
        labels = torch.stack([item[1] for item in items])
        masks = torch.stack([item[2] for item in items]).bool() if self.has_masks else None
        return images, labels, masks


def evaluation_images(config: RunConfig, split: str = "test", data_path: str | None = None) -> EvaluationImages:
    """The ``split`` images of a run's dataset (or of ``data_path`` with the run's recipe)."""
    data = other_dataset(config.data, {"path": data_path}) if data_path else config.data
    size = config.model.image_size
    prepared = prepare_run_data(data, size, config.train.seed)
    splits = sorted({r.split for r in prepared.source.records if r.split})
    choose("split", split, splits)
    indices = prepared.indices(split)
    has_masks = prepared.cache.masks is not None
    dataset = CachedImageDataset(
        prepared.cache, prepared.source.records, indices, build_transform(size, "none"), with_masks=has_masks
    )
    paths = [prepared.source.records[i].path for i in indices]
    return EvaluationImages(dataset, paths, tuple(prepared.source.classes), has_masks)


def check_classes(runs: list[LoadedRun], classes: tuple[str, ...]) -> None:
    """Refuse images whose classes are not those every run was trained on (as ``medattn test --data`` does).

    Raises:
        ConfigError: naming the run, its classes and the dataset's (from the run's ``predictions-val.csv``).
    """
    for run in runs:
        stored_validation(run.path, classes)  # the one class check, as `medattn test --data` does


def predict(run: LoadedRun, images: EvaluationImages, batch_size: int = 64) -> np.ndarray:
    """Class probabilities [N, K] of a run on every image of the split (K = 2 for a sigmoid head)."""
    device = next(run.model.parameters()).device
    loader = DataLoader(images.dataset, batch_size=batch_size, shuffle=False)
    outputs = [run.model.predict(batch[0].to(device)).cpu() for batch in loader]
    return torch.cat(outputs).numpy()
