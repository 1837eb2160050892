"""Training-step speed in fp32 vs bf16 autocast, per backbone x attention x image size, on this CPU.

Usage: python bench/precision.py [BATCH]   (default batch 16; 64 and 128 px; every backbone with none,
cbam and se where the zoo has them). Each row alternates fp32 and bf16 steps three times in one
process and prints the ratio of the best step times, and the achieved FLOP/s as a fraction of this
machine's fp32 and bf16 matmul peaks (2048^3, measured again beside every row, so a machine shared
with other work is compared with itself at that moment; FLOPs of one step counted once by
torch.utils.flop_counter: the same work in both precisions).
"""

import sys
import time
from contextlib import nullcontext

import torch
from torch.utils.flop_counter import FlopCounterMode

from medattn.config import ModelSpec
from medattn.models import create_model
from medattn.models.catalog import catalog
from medattn.train.precision import cpu_capability

SIZES = (64, 128)
ATTENTIONS = ("none", "cbam", "se")


def variants() -> list[tuple[str, str, str | None]]:
    valid = catalog()["valid"]
    chosen = {}
    for backbone, attention, placement in valid:  # the mechanism's default placement: its first listed
        if attention in ATTENTIONS and (backbone, attention) not in chosen:
            chosen[backbone, attention] = placement
    return [(b, a, p) for (b, a), p in chosen.items()]


def step_times(backbone: str, attention: str, placement, size: int, batch: int, rounds: int = 3):
    torch.manual_seed(0)
    model = create_model(ModelSpec(backbone, attention, placement=placement, image_size=size), load_weights=False)
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,))

    def step(dtype):
        optimizer.zero_grad(set_to_none=True)
        with nullcontext() if dtype is None else torch.autocast("cpu", dtype=dtype):
            logits = model(x)
        torch.nn.functional.cross_entropy(logits.float(), y).backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step(None)
    step(torch.bfloat16)
    best = {None: float("inf"), torch.bfloat16: float("inf")}
    for _ in range(rounds):
        for dtype in best:
            start = time.perf_counter()
            step(dtype)
            best[dtype] = min(best[dtype], time.perf_counter() - start)
    return counter.get_total_flops(), best[None], best[torch.bfloat16]


def matmul_peaks(n: int = 2048, repeats: int = 3) -> tuple[float, float]:
    """(fp32, bf16) FLOP/s of an n^3 matmul, best of ``repeats``."""
    peaks = []
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        torch.mm(a, b)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
        peaks.append(2 * n**3 / best)
    return peaks[0], peaks[1]


def main() -> None:
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    info = cpu_capability()
    print(f"{info['cpu']}, capability {info['cpu_capability']}, oneDNN bf16 kernels: {info['bf16_kernels']}, "
          f"{torch.get_num_threads()} threads, batch {batch}")  # fmt: skip
    print("| model | px | fp32 img/s | bf16 img/s | bf16 / fp32 | fp32 peak GFLOP/s | bf16 peak GFLOP/s "
          "| fp32 of fp32 peak | bf16 of bf16 peak |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for backbone, attention, placement in variants():
        for size in SIZES:
            flops, t32, t16 = step_times(backbone, attention, placement, size, batch)
            peak32, peak16 = matmul_peaks()
            name = backbone if attention == "none" else f"{backbone} + {attention}"
            cells = [f"{batch / t32:.1f}", f"{batch / t16:.1f}", f"{t32 / t16:.2f}", f"{peak32 / 1e9:.0f}",
                     f"{peak16 / 1e9:.0f}", f"{flops / t32 / peak32:.1%}", f"{flops / t16 / peak16:.1%}"]  # fmt: skip
            print(f"| {name} | {size} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
