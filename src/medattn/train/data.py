"""Data for a run: the prepared dataset (synthetic by default) and its loaders."""

import csv
import hashlib
import io
import json
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler

from medattn.config import DataSpec, TrainSpec
from medattn.data.cache import default_cache_root
from medattn.data.dataset import CachedImageDataset
from medattn.data.prepare import PreparedData, prepare_data
from medattn.data.transforms import build_transform
from medattn.io import write_text_atomic

DROPPED_LISTING = "dropped.csv"
DROPPED_FIELDS = ("path", "split", "reason")


def synthetic_dataset_path(spec: DataSpec, size: int, seed: int):
    """Write (once) the synthetic benchmark for these settings and return its folder."""
    from medattn.data.synthetic import write_synthetic_dataset

    settings = {"n": spec.synthetic_n, "size": size, "seed": seed, "shortcut": spec.synthetic_shortcut,
                "difficulty": spec.synthetic_difficulty}  # fmt: skip
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    folder = default_cache_root().parent / "synthetic" / key
    if not (folder / "manifest.csv").is_file():
        write_synthetic_dataset(
            folder, spec.synthetic_n, size, seed=seed, shortcut=spec.synthetic_shortcut,
            difficulty=spec.synthetic_difficulty,
        )  # fmt: skip
    return folder


def prepare_run_data(spec: DataSpec, image_size: int, seed: int, progress=None) -> PreparedData:
    """Open, split, decode and check the run's dataset (the synthetic benchmark without a path)."""
    path, recipe = (
        (spec.path, spec.recipe) if spec.path else (synthetic_dataset_path(spec, image_size, seed), "synthetic")
    )
    return prepare_data(
        path, recipe=recipe, image_size=image_size, val_fraction=spec.val_fraction,
        test_fraction=spec.test_fraction, seed=seed, regime=spec.regime, duplicates=spec.duplicates,
        max_dropped=spec.max_dropped, progress=progress,
    )  # fmt: skip


def other_dataset(data: DataSpec, overrides: dict) -> DataSpec:
    """A run's data settings (recipe, split fractions ...) with ``overrides`` such as another ``path``.

    The synthetic benchmark's settings of a run trained on it do not apply to another dataset (and a
    ``DataSpec`` with a path refuses them), so with a ``path`` they return to their defaults.
    """
    synthetic = {f.name: f.default for f in fields(DataSpec) if f.name.startswith("synthetic_")}
    return replace(data, **({**synthetic, **overrides} if overrides.get("path") else overrides))


def write_dropped_listing(out: Path, data: PreparedData) -> Path:
    """``out/dropped.csv``: one row (path, split, reason) per file the run does not use, written atomically."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(DROPPED_FIELDS)
    writer.writerows((item.path, item.split or "", item.reason) for item in data.listing())
    return write_text_atomic(out / DROPPED_LISTING, text.getvalue())


@dataclass
class Loaders:
    train: DataLoader
    evaluation: dict[str, DataLoader]
    train_labels: torch.Tensor


def build_loaders(data: PreparedData, spec: TrainSpec, image_size: int, *, distributed: bool = False) -> Loaders:
    """Training loader (augmented, shuffled per epoch) and one evaluation loader per split."""
    records = data.source.records
    train_set = CachedImageDataset(
        data.cache, records, data.indices("train"), build_transform(image_size, spec.augmentation)
    )
    sampler = DistributedSampler(train_set, shuffle=True, seed=spec.seed) if distributed else None
    common = {"batch_size": spec.batch_size, "num_workers": spec.workers, "persistent_workers": spec.workers > 0,
              "pin_memory": torch.cuda.is_available()}  # fmt: skip
    train = DataLoader(
        train_set, shuffle=sampler is None, sampler=sampler, drop_last=len(train_set) > spec.batch_size, **common
    )
    plain = build_transform(image_size, "none")
    splits = sorted({r.split for r in records if r.split not in (None, "train")})
    evaluation = {
        split: DataLoader(CachedImageDataset(data.cache, records, data.indices(split), plain), shuffle=False, **common)
        for split in splits
    }
    return Loaders(train, evaluation, train_set.labels)
