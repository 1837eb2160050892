"""Loader throughput from the decoded cache vs decoding files every epoch, vs the training step.

Usage: python bench/loader.py [DATA_FOLDER] [SIZE]   (default: the shared brain MRI data, 64 px)
Prints images/s of: one pass over the files decoding each (what a plain ImageFolder loader does),
one pass over the cache with each augmentation, and ResNet-18 training steps at the same size, and
the ratios. One DataLoader worker, so the figures are per core.
"""

import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors

from medattn.config import ModelSpec
from medattn.data.cache import decode_row, open_cache
from medattn.data.dataset import CachedImageDataset
from medattn.data.sources import folder_source
from medattn.data.transforms import AUGMENTATIONS, build_transform
from medattn.models import create_model

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brain-tumor-mri"


class DecodeEveryTime(Dataset):
    """What a plain ImageFolder-style loader does: decode and resize the file on every access."""

    def __init__(self, records, size, transform):
        self.records, self.size, self.transform = records, size, transform

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        image, _, _ = decode_row(self.records[i].path, None, self.size)
        return self.transform(tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1))), self.records[i].label


def images_per_second(dataset, limit: int) -> float:
    loader = DataLoader(torch.utils.data.Subset(dataset, range(min(limit, len(dataset)))), batch_size=64)
    start = time.perf_counter()
    count = sum(len(batch[1]) for batch in loader)
    return count / (time.perf_counter() - start)


def training_images_per_second(size: int, steps: int = 5) -> float:
    model = create_model(ModelSpec("resnet18", image_size=size), load_weights=False).to(
        memory_format=torch.channels_last
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(64, 3, size, size).contiguous(memory_format=torch.channels_last), torch.randint(0, 2, (64,))
    for step in range(steps + 1):
        if step == 1:
            start = time.perf_counter()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return steps * 64 / (time.perf_counter() - start)


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    torch.set_num_threads(1)
    records = folder_source(data).records
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        cache = open_cache(records, size, root=Path(root))
        build = time.perf_counter() - start
        rates = {}
        for name in AUGMENTATIONS:
            transform = build_transform(size, name)
            files = images_per_second(DecodeEveryTime(records, size, transform), 640)
            cached = images_per_second(CachedImageDataset(cache, records, range(len(records)), transform), 1920)
            rates[name] = (files, cached)
    torch.set_num_threads(2)
    train = training_images_per_second(size)
    print(f"{len(records)} images from {data}, {size} px, 1 loader core; cache built once in {build:.1f} s")
    print(f"resnet18 training step (2 threads): {train:.0f} img/s")
    for name, (files, cached) in rates.items():
        print(
            f"augmentation {name:<14} files {files:6.0f} img/s | cache {cached:6.0f} img/s | "
            f"cache/files {cached / files:4.1f}x | cache/training {cached / train:5.1f}x"
        )


if __name__ == "__main__":
    main()
