"""Which floating-point precision a run computes in: fp32, or bf16/fp16 autocast, chosen per machine.

``amp: cuda`` (the default) autocasts on CUDA only (bf16 where the GPU supports it, else fp16 with a
gradient scaler) and keeps the CPU in fp32: on the CPU, bf16 training was not shown equivalent to fp32
(the amp-equivalence study in docs/benchmarks.md: 10 paired seeds, test AUC differences -0.007 and
+0.013, undecided within the ROPE of 0.01), so it is not the default there.

``amp: auto`` uses bf16 autocast wherever the hardware runs it fast and fp32 elsewhere:

* CUDA: bf16 where the GPU supports it, else fp16 (with a gradient scaler).
* CPU: bf16 when oneDNN has bf16 kernels for this CPU (``torch.ops.mkldnn._is_mkldnn_bf16_supported``)
  **and** a micro-benchmark of the run's own model (training steps of a copy at the run's image size,
  batch 4, fp32 and bf16 alternating) measures bf16 at least ``CPU_BF16_MIN_SPEEDUP`` times faster. The
  capability alone misleads: CPUs with AVX-512 but without AVX512-BF16/AMX report bf16 kernels that
  emulate it and run slower than fp32; and the model matters: on the AVX512-BF16 EPYC of
  docs/benchmarks.md ResNets and VGG train 1.4-2.1x faster in bf16 but EfficientNet-B0 (depthwise
  convolutions) 2x slower. The measurement is cached per machine (CPU model, torch version, thread count)
  and model (backbone, attention, placement, image size) in ``$MEDATTN_CACHE/../precision.json``; without
  a model a small convolutional step is measured.

``amp: bf16`` / ``fp16`` force autocast at that precision; ``off`` forces fp32. Under autocast, weights,
BatchNorm statistics, the loss (computed on ``logits.float()``) and the optimiser stay in fp32; only the
matrix products and convolutions run in the lower precision (PyTorch's autocast op lists).
Explanations always compute in fp32 (``medattn.explain`` takes no autocast).
"""

import copy
import json
import platform
import time
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path

import torch

from medattn.errors import choose

CPU_BF16_MIN_SPEEDUP = 1.15  # below this, bf16's rounding is not worth it
AMP_MODES = ("cuda", "auto", "off", "bf16", "fp16")
_NAMES = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
_MEASURED: dict[str, float] = {}  # machine key -> speed-up: the cache file is read once per process


@dataclass
class Precision:
    """Autocast settings for one device; ``dtype`` None is plain fp32.

    Attributes:
        device: where the model runs.
        dtype: autocast dtype (``torch.bfloat16`` / ``torch.float16``) or None.
        record: how the choice was made (requested mode, capability, measured speed-up), for env.json.
    """

    device: torch.device
    dtype: torch.dtype | None = None
    record: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``fp32``, ``bf16`` or ``fp16``: also the value the run's config records as ``train.amp``."""
        return _NAMES[self.dtype]

    @property
    def amp_mode(self) -> str:
        """The concrete ``amp`` setting that reproduces this precision (``off`` for fp32)."""
        return "off" if self.dtype is None else self.name

    def autocast(self):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)


def choose_precision(device: torch.device, mode: str, *, model: torch.nn.Module | None = None,
                     image_size: int | None = None) -> Precision:  # fmt: skip
    """The precision for ``mode`` (``cuda``, ``auto``, ``off``, ``bf16``, ``fp16``) on ``device``; ``auto`` on a
    CPU measures ``model`` at ``image_size`` (a small convolutional step without a model)."""
    choose("amp mode", mode, AMP_MODES)
    record = {"requested": mode, "device": device.type}
    if mode == "off":
        return Precision(device, None, record)
    if device.type == "cuda":
        supported = mode in ("auto", "cuda") and torch.cuda.is_bf16_supported()
        return Precision(device, torch.bfloat16 if mode == "bf16" or supported else torch.float16, record)
    if mode == "cuda":
        return Precision(device, None, {**record, "reason": "amp 'cuda' autocasts on CUDA only (docs/benchmarks.md)"})
    if device.type != "cpu":
        return Precision(device, None, {**record, "reason": f"no autocast policy for {device.type}"})
    if mode == "fp16":
        return Precision(device, torch.float16, record)
    capability = cpu_capability()
    record |= capability
    if mode == "bf16":
        return Precision(device, torch.bfloat16, record)
    if not capability["bf16_kernels"]:
        return Precision(device, None, {**record, "reason": "no bf16 kernels for this CPU"})
    speedup = cpu_bf16_speedup(model=model, image_size=image_size)
    record |= {"bf16_speedup": round(speedup, 2), "min_speedup": CPU_BF16_MIN_SPEEDUP,
               "measured_on": _signature(model, image_size) or "a small convolutional step"}  # fmt: skip
    if speedup < CPU_BF16_MIN_SPEEDUP:
        return Precision(device, None, {**record, "reason": "bf16 measured no faster than fp32"})
    return Precision(device, torch.bfloat16, {**record, "reason": "bf16 measured faster"})


def run_precision(device: torch.device, mode: str, *, recorded: bool, model: torch.nn.Module | None = None,
                  image_size: int | None = None) -> Precision:  # fmt: skip
    """The precision of a run whose config says ``amp: mode``.

    A new run records its concrete choice as ``train.amp`` (``off``, ``bf16``, ``fp16``), so resuming,
    testing and feature extraction compute as it trained. ``recorded``: the config is a run's own
    config.yaml; one that still says ``auto`` there was written before CPU autocast existed and
    trained in fp32 on the CPU, so it stays fp32 there.
    """
    if recorded and mode == "auto" and device.type == "cpu":
        mode = "off"
    return choose_precision(device, mode, model=model, image_size=image_size)


def cpu_capability() -> dict:
    """The CPU's vector capability as PyTorch sees it and whether oneDNN has bf16 kernels for it."""
    return {
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "bf16_kernels": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    }


def cpu_model() -> str:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_bf16_speedup(
    cache: Path | None = None, *, model: torch.nn.Module | None = None, image_size: int | None = None
) -> float:
    """fp32 time / bf16-autocast time of a training step of ``model`` (or of a small convolutional step)
    on this CPU, cached per machine and model."""
    from medattn.data.cache import default_cache_root

    cache = cache or default_cache_root().parent / "precision.json"
    key = f"{cpu_model()} | torch {torch.__version__} | {torch.get_num_threads()} threads"
    if model is not None:
        key += f" | {_signature(model, image_size)}"
    if key not in _MEASURED:
        _MEASURED[key] = _cached_speedup(cache, key, lambda: measure_bf16_speedup(model=model, image_size=image_size))
    return _MEASURED[key]


def _signature(model: torch.nn.Module | None, image_size: int | None) -> str | None:
    """What the measurement depends on: the model's architecture and the image size."""
    if model is None:
        return None
    spec = getattr(model, "spec", None)
    name = (f"{spec.backbone} {spec.attention} {spec.placement} {spec.head} {spec.num_classes}" if spec
            else type(model).__name__)  # fmt: skip
    return f"{name} at {image_size} px"


def _cached_speedup(cache: Path, key: str, measure) -> float:
    from medattn.io import write_json_atomic

    try:
        known = json.loads(cache.read_text())
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    if isinstance(known.get(key), int | float):
        return float(known[key])
    speedup = measure()
    with suppress(OSError):  # a read-only home still trains; it only measures again next time
        write_json_atomic(cache, {**known, key: speedup})
    return speedup


def measure_bf16_speedup(
    rounds: int = 3, *, model: torch.nn.Module | None = None, image_size: int | None = None
) -> float:
    """Time training steps in fp32 and under bf16 autocast, alternating ``rounds`` times after a warm-up
    round; returns the ratio of the best times. ``model``: steps of a copy of it (batch 4 at ``image_size``,
    the model itself untouched); else a conv-BN-ReLU step (batch 16, 32 px, 64 channels; about 0.3 s)."""
    if model is not None:
        size = image_size or 224
        net = copy.deepcopy(model).cpu().train().to(memory_format=torch.channels_last)
        images = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(0))
        return _best_ratio(net, images.contiguous(memory_format=torch.channels_last), rounds, steps=1)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.BatchNorm2d(64), torch.nn.ReLU(),
            torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
            torch.nn.Linear(64, 2),
        ).to(memory_format=torch.channels_last)  # fmt: skip
        images = torch.randn(16, 32, 32, 32).contiguous(memory_format=torch.channels_last)
    return _best_ratio(net, images, rounds, steps=2)


def _best_ratio(net: torch.nn.Module, images: torch.Tensor, rounds: int, steps: int) -> float:
    best = {None: float("inf"), torch.bfloat16: float("inf")}
    for _ in range(rounds + 1):  # the first round warms both up
        for dtype in best:
            context = nullcontext() if dtype is None else torch.autocast("cpu", dtype=torch.bfloat16)
            start = time.perf_counter()
            for _ in range(steps):
                with context:
                    loss = net(images).float().square().mean()
                loss.backward()
            best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best[None] / best[torch.bfloat16]
