"""How many images fit through forward + backward under a memory limit.

Integrated gradients with 200 steps, SmoothGrad, occlusion and the quality scores multiply the
batch many times over; they run in chunks of at most ``chunk_size`` images. The per-image cost is
measured once per model and input size by one forward pass of one image that sums the bytes of
every module output (the activations autograd keeps), times a factor for their gradients and
temporary buffers.
"""

import weakref

import torch
from torch import nn

DEFAULT_MEMORY_LIMIT = 2 * 1024**3  # bytes; on CUDA the free device memory is used when smaller
BACKWARD_FACTOR = 3.0  # activations kept + their gradients + temporaries, measured on resnet/densenet

_cache: "weakref.WeakKeyDictionary[nn.Module, dict[tuple, int]]" = weakref.WeakKeyDictionary()


def bytes_per_image(model: nn.Module, image: torch.Tensor) -> int:
    """Bytes of all module outputs for one image (a forward pass without gradient).

    Cached per underlying network: explain() wraps the model in a new target wrapper on every call.
    """
    sizes = _cache.setdefault(getattr(model, "model", model), {})
    key = (tuple(image.shape[1:]), image.dtype, str(image.device))
    if key not in sizes:
        total = 0

        def count(module, inputs, output):
            nonlocal total
            if isinstance(output, torch.Tensor):
                total += output.numel() * output.element_size()

        handles = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
        try:
            with torch.no_grad():
                model(image[:1])
        finally:
            for handle in handles:
                handle.remove()
        sizes[key] = max(total, 1)
    return sizes[key]


def memory_limit(limit: int | None, device: torch.device) -> int:
    """The limit in bytes: the given one, else the default, capped by free CUDA memory."""
    limit = limit or DEFAULT_MEMORY_LIMIT
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        limit = min(limit, int(free * 0.8))
    return limit


def chunk_size(model: nn.Module, images: torch.Tensor, limit: int | None = None, backward: bool = True) -> int:
    """Images per forward(+backward) pass that fit in ``limit`` bytes (at least one)."""
    per_image = bytes_per_image(model, images) * (BACKWARD_FACTOR if backward else 1.0)
    return max(1, int(memory_limit(limit, images.device) // per_image))
