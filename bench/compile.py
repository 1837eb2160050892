"""torch.compile (inductor) vs eager for a CPU training step, compile time included.

Usage: python bench/compile.py [SIZE] [BACKBONE] [ATTENTION]   (default 64 px, resnet18, none; batch 32)
For fp32 and bf16 autocast: the seconds of the first compiled steps (compilation), the steady step
time of both, and the number of steps after which compiling pays for itself, beside the step counts of
typical runs (the quickstart: 6 epochs of 7 steps; the brain-MRI study: 8 epochs of 41 steps).
"""

import sys
import time
from contextlib import nullcontext

import torch

from medattn.config import ModelSpec
from medattn.models import create_model

TYPICAL_RUNS = {"quickstart run": 6 * 7, "brain-MRI study run": 8 * 41}


def make_step(model, dtype, batch: int, size: int):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        with nullcontext() if dtype is None else torch.autocast("cpu", dtype=dtype):
            logits = model(x)
        torch.nn.functional.cross_entropy(logits.float(), y).backward()
        optimizer.step()

    return step


def timed(step, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    backbone = sys.argv[2] if len(sys.argv) > 2 else "resnet18"
    attention = sys.argv[3] if len(sys.argv) > 3 else "none"
    batch = 32
    print(f"{backbone}+{attention}, {size} px, batch {batch}, {torch.get_num_threads()} threads")
    for dtype in (None, torch.bfloat16):
        torch.manual_seed(0)
        spec = ModelSpec(backbone, attention, image_size=size)
        eager = create_model(spec, load_weights=False).to(memory_format=torch.channels_last).train()
        compiled_model = create_model(spec, load_weights=False).to(memory_format=torch.channels_last).train()
        compiled_model.load_state_dict(eager.state_dict())
        eager_step = make_step(eager, dtype, batch, size)
        compiled_step = make_step(torch.compile(compiled_model), dtype, batch, size)
        eager_step()
        start = time.perf_counter()
        compiled_step()  # compiles forward and backward
        compiled_step()
        first = time.perf_counter() - start
        eager_time, compiled_time = [], []
        for _ in range(3):
            eager_time.append(timed(eager_step, 3))
            compiled_time.append(timed(compiled_step, 3))
        e, c = min(eager_time), min(compiled_time)
        gain = e - c
        pays_after = (first - 2 * c) / gain if gain > 0 else float("inf")
        name = "fp32" if dtype is None else "bf16"
        print(f"{name}: eager {e * 1000:.0f} ms/step, compiled {c * 1000:.0f} ms/step (x{e / c:.2f}); "
              f"first two compiled steps {first:.1f} s; compiling pays after {pays_after:.0f} steps")  # fmt: skip
        for run, steps in TYPICAL_RUNS.items():
            print(f"  {run} ({steps} steps): eager {steps * e:.1f} s, compiled {first + (steps - 2) * c:.1f} s")


if __name__ == "__main__":
    main()
