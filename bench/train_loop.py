"""medattn's training loop vs a bare hand-written PyTorch loop: same model, data, batch size.

Usage: python bench/train_loop.py [SIZE] [BACKBONE] [ATTENTION]   (default 64 px, resnet18, none)
The bare loop is what a user writes by hand: torchvision ImageFolder-style decoding from the image
files every epoch and a contiguous-format model, in fp32 and (as a user who knows autocast writes it)
under bf16 autocast. medattn's loop reads the decoded cache, trains channels_last and in the precision
``amp: auto`` chooses on this machine. The three alternate for three rounds in one process; the ratios
of medians are printed.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from medattn.config import ModelSpec, TrainSpec
from medattn.data.cache import decode_row, open_cache
from medattn.data.dataset import CachedImageDataset
from medattn.data.sources import folder_source
from medattn.data.transforms import IMAGENET_MEAN, IMAGENET_STD, build_transform
from medattn.models import create_model
from medattn.train.engine import train_epoch
from medattn.train.precision import choose_precision
from medattn.train.setup import build_loss, build_optimizer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brain-tumor-mri"
IMAGES = 640


class FilesDataset(Dataset):
    """Decode + resize + normalise from the files on every access, as a plain ImageFolder loader."""

    def __init__(self, records, size):
        self.records, self.size = records, size
        self.mean, self.std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        image, _, _ = decode_row(self.records[i].path, None, self.size)
        return (torch.from_numpy(image).permute(2, 0, 1).float() / 255 - self.mean) / self.std, self.records[i].label


def bare_epoch(model, loader, optimizer, dtype=None) -> float:
    model.train()
    start, count = time.perf_counter(), 0
    for images, labels in loader:
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            logits = model(images)
        torch.nn.functional.cross_entropy(logits.float(), labels).backward()
        optimizer.step()
        count += len(labels)
    return count / (time.perf_counter() - start)


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    backbone = sys.argv[2] if len(sys.argv) > 2 else "resnet18"
    attention = sys.argv[3] if len(sys.argv) > 3 else "none"
    records = folder_source(DATA).records[:IMAGES]
    spec = TrainSpec(batch_size=32, lr=0.01)
    torch.manual_seed(0)
    bare_model = create_model(ModelSpec(backbone, attention, num_classes=4, image_size=size), load_weights=False)
    autocast_model = create_model(ModelSpec(backbone, attention, num_classes=4, image_size=size), load_weights=False)
    ours = create_model(ModelSpec(backbone, attention, num_classes=4, image_size=size), load_weights=False)
    autocast_model.load_state_dict(bare_model.state_dict())
    ours.load_state_dict(bare_model.state_dict())
    ours = ours.to(memory_format=torch.channels_last)
    bare_loader = DataLoader(FilesDataset(records, size), batch_size=32, shuffle=True)
    precision = choose_precision(torch.device("cpu"), "auto")
    with tempfile.TemporaryDirectory() as root:
        cache = open_cache(records, size, root=Path(root))
        our_loader = DataLoader(
            CachedImageDataset(cache, records, range(len(records)), build_transform(size)), batch_size=32, shuffle=True
        )
        bare_opt, our_opt = torch.optim.SGD(bare_model.parameters(), lr=0.01), build_optimizer(ours, spec)
        autocast_opt = torch.optim.SGD(autocast_model.parameters(), lr=0.01)
        loss_fn = build_loss(spec, 4, None)
        bare, autocast, medattn = [], [], []
        for _ in range(3):
            bare.append(bare_epoch(bare_model, bare_loader, bare_opt))
            autocast.append(bare_epoch(autocast_model, bare_loader, autocast_opt, torch.bfloat16))
            medattn.append(train_epoch(ours, our_loader, loss_fn, our_opt, precision, epoch=0)[1])
    b, a, m = statistics.median(bare), statistics.median(autocast), statistics.median(medattn)
    print(f"{backbone}+{attention}, {size} px, batch 32, {len(records)} brain MRI images (4 classes), "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    print(f"bare loop fp32 (decode files, contiguous):   {b:.1f} img/s  {[round(x, 1) for x in bare]}")
    print(f"bare loop bf16 autocast (decode files):      {a:.1f} img/s  {[round(x, 1) for x in autocast]}")
    print(f"medattn loop (cache, channels_last, {precision.name}): {m:.1f} img/s  {[round(x, 1) for x in medattn]}")
    print(f"ratio medattn / bare fp32: {m / b:.2f}; medattn / bare bf16: {m / a:.2f}")


if __name__ == "__main__":
    main()
