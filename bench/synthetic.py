"""Synthetic benchmark throughput on one core, against the target of 1,000 images/s at 64 px.

Prints images/s for generation only (``make_lesion_dataset``) and for generation plus writing the
PNG files and manifest (``write_synthetic_dataset``), each with its ratio to the target. Writing is
measured into the temporary folder (a disk) and into /dev/shm (RAM) where it exists, each with a
baseline from the same run: how fast that file system takes a copy of the same files. On a busy
or throttled virtual disk, creating files costs more than drawing the images.
Usage: python bench/synthetic.py [n_images] [size]
"""

import sys
import tempfile
import time
from pathlib import Path

import torch

from medattn.data.synthetic import make_lesion_dataset, write_synthetic_dataset

TARGET = 1000.0  # images/s, generation including writing, at 64 px on one core


def best_rate(run, n: int, repeats: int = 3) -> float:
    """Images/s of the fastest of ``repeats`` runs (the others pay for page faults and noisy neighbours)."""
    seconds = []
    for repeat in range(repeats):
        start = time.perf_counter()
        run(repeat)
        seconds.append(time.perf_counter() - start)
    return n / min(seconds)


def copy_files(written: Path, out: Path) -> None:
    """Write the bytes of every image and mask of ``written`` again under ``out`` (no generation)."""
    for folder in ("images", "masks"):
        (out / folder).mkdir(parents=True)
        for path in sorted((written / folder).iterdir()):
            (out / folder / path.name).write_bytes(path.read_bytes())


def write_rate(n: int, size: int, parent: str | None) -> tuple[float, float]:
    """Images/s of ``write_synthetic_dataset`` into a fresh folder under ``parent``, and of copying its files."""
    with tempfile.TemporaryDirectory(dir=parent) as folder:
        root = Path(folder)
        write = best_rate(lambda r: write_synthetic_dataset(root / f"run{r}", n, size, seed=1, shortcut=0.9), n)
        copy = best_rate(lambda r: copy_files(root / "run0", root / f"copy{r}"), n)
    return write, copy


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    torch.set_num_threads(1)
    make_lesion_dataset(256, size, seed=0, shortcut=0.9)  # warm-up
    generate = best_rate(lambda _: make_lesion_dataset(n, size, seed=1, shortcut=0.9), n)
    print(f"synthetic lesions, {n} images of {size} px, {torch.get_num_threads()} thread; target {TARGET:.0f} img/s")
    print(f"generation only:                {generate:7.0f} img/s; ratio to target {generate / TARGET:.2f}")
    targets = [("temporary folder", None)] + ([("RAM disk /dev/shm", "/dev/shm")] if Path("/dev/shm").is_dir() else [])
    for name, parent in targets:
        write, copy = write_rate(n, size, parent)
        print(f"generation + writing, {name}: {write:7.0f} img/s; ratio to target {write / TARGET:.2f}")
        print(f"  baseline, copying the same files there: {copy:7.0f} img/s")


if __name__ == "__main__":
    main()
