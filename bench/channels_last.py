"""Training-step throughput with channels_last vs the default memory format, measured side by side.

Prints images/s for both and their ratio. Usage: python bench/channels_last.py [backbone] [attention]
"""

import sys
import time

import torch

from medattn.config import ModelSpec
from medattn.models import create_model


def images_per_second(model, images, labels, channels_last: bool, steps: int = 6) -> float:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    images = images.contiguous(memory_format=fmt)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for step in range(steps + 1):
        if step == 1:  # the first step warms up allocators and kernels
            start = time.perf_counter()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return steps * len(images) / (time.perf_counter() - start)


def main() -> None:
    backbone = sys.argv[1] if len(sys.argv) > 1 else "resnet18"
    attention = sys.argv[2] if len(sys.argv) > 2 else "cbam"
    torch.manual_seed(0)
    model = create_model(ModelSpec(backbone, attention, image_size=128), load_weights=False).train()
    images, labels = torch.randn(32, 3, 128, 128), torch.randint(0, 2, (32,))
    default = images_per_second(model, images, labels, channels_last=False)
    last = images_per_second(model, images, labels, channels_last=True)
    print(f"{backbone}+{attention}, 128 px, batch 32, {torch.get_num_threads()} threads")
    print(f"default format: {default:.1f} img/s; channels_last: {last:.1f} img/s; ratio {last / default:.2f}")


if __name__ == "__main__":
    main()
