"""Achieved training FLOP/s as a fraction of this machine's measured fp32 matmul peak, and peak
memory, per model: where attention modules cost more time than their FLOPs.

Usage: python bench/flops.py [SIZE]   (default 64 px, batch 16; CPU: peak RSS, CUDA: peak allocated)
"""

import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from medattn.config import ModelSpec
from medattn.models import create_model

CONFIGS = [(b, a) for b in ("resnet18", "resnet50") for a in ("none", "se", "cbam", "gc", "eca", "ga")]


def matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: resets VmHWM to the current RSS


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def step_flops_and_time(backbone: str, attention: str, size: int, batch: int = 16) -> tuple[float, float, float]:
    torch.manual_seed(0)
    model = create_model(ModelSpec(backbone, attention, image_size=size), load_weights=False).to(
        memory_format=torch.channels_last
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,))

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step()
    reset_peak_rss()
    step()
    start = time.perf_counter()
    for _ in range(3):
        step()
    return counter.get_total_flops(), (time.perf_counter() - start) / 3, peak_rss_mb()


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    peak = matmul_peak()
    print(
        f"fp32 matmul peak (2048^3, {torch.get_num_threads()} threads): {peak / 1e9:.1f} GFLOP/s; {size} px, batch 16"
    )
    print(f"{'model':<20} {'GFLOP/step':>10} {'s/step':>8} {'GFLOP/s':>8} {'of peak':>8} {'peak RSS MB':>12}")
    for backbone, attention in CONFIGS:
        flops, seconds, rss = step_flops_and_time(backbone, attention, size)
        achieved = flops / seconds
        name = f"{backbone}+{attention}"
        print(f"{name:<20} {flops / 1e9:10.2f} {seconds:8.3f} {achieved / 1e9:8.1f} {achieved / peak:8.1%} {rss:12.0f}")


if __name__ == "__main__":
    main()
