"""Study scaling: the same small grid with 1 worker (all threads) vs N workers (threads split).

Usage: python bench/study_scaling.py [WORKERS] [EPOCHS]   (default: 2 workers, 6 epochs)
The grid: ResNet-18 none/SE/CBAM/GC x 1 seed (4 runs) on 400 synthetic images of 64 px. Both
settings use every core of the machine: 1 worker with all threads, then WORKERS workers with the
threads split between them, each into its own fresh study folder (the decoded-image cache is
warmed first, so neither pays for decoding). Prints the wall time of each, the speed-up ratio and
the parallel efficiency (speed-up / WORKERS), and how far the test AUCs of the two settings are
apart (a different thread count changes the order of floating-point sums, not the results' meaning).
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from medattn.study.config import parse_study
from medattn.study.runner import run_study

STUDY = {
    "name": "bench-scaling",
    "data": {"synthetic_n": 400, "synthetic_shortcut": 0.9},
    "model": {"backbone": "resnet18", "preset": "rao2023", "image_size": 64},
    "factors": {"attention": ["none", "se", "cbam", "gc"]},
    "seeds": [0],
    "baseline": {"attention": "none"},
}


def timed_study(study, out: Path, workers: int, threads: int) -> tuple[float, list[float]]:
    start = time.perf_counter()
    summary = run_study(study, out, workers=workers, threads=threads)
    seconds = time.perf_counter() - start
    assert summary["counts"]["done"] and not summary["failures"], summary
    frame = pd.read_csv(out / "results.csv").sort_values("key")
    return seconds, frame["test.auc_roc"].round(6).tolist()


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    cores = os.cpu_count() or 1
    study = parse_study({**STUDY, "train": {"epochs": epochs}}, "bench-scaling")
    with tempfile.TemporaryDirectory() as tmp:
        timed_study(parse_study({**STUDY, "seeds": [0], "factors": {"attention": ["none"]},
                                 "train": {"epochs": 1}}, "warm-up"), Path(tmp) / "warm", 1, cores)  # fmt: skip
        one, auc_one = timed_study(study, Path(tmp) / "one", 1, cores)
        many, auc_many = timed_study(study, Path(tmp) / "many", workers, max(1, cores // workers))
    print(f"4 runs ({epochs} epochs, 64 px, 400 images), {cores} cores")
    print(f"1 worker x {cores} threads: {one:.1f} s")
    print(f"{workers} workers x {max(1, cores // workers)} threads: {many:.1f} s")
    print(f"speed-up {one / many:.2f}x, parallel efficiency {one / many / workers:.0%}")
    gap = max(abs(a - b) for a, b in zip(auc_one, auc_many, strict=True))
    print(f"largest test AUC difference between the two settings: {gap:.4f}")


if __name__ == "__main__":
    main()
