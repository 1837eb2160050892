"""Attribution maps per second for every explanation method, and explain() vs captum called directly.

Part 1 prints maps/s of ``medattn.explain.api.explain(model, images, 1, method)`` for each method in
``METHODS`` on resnet18 and resnet50 (and the native ``attention`` map of resnet18+cbam), with the method's
default options; cheap methods on a batch of 8, the expensive ones (integrated gradients, SmoothGrad,
occlusion) on one image. A method a model refuses prints ``refused: <reason>``, one not implemented yet
``unavailable``.

Part 2 times, on resnet18, explain() given the bare model (as users call it), the same captum call made
directly (same batch, model, explicit target, baseline, options and internal batch size), and explain()
given a persistent ``TargetModel`` (its memory probe stays cached), interleaved A B C A B C ... to cancel
machine noise, and prints the medians and the ratios to the direct call (the target is at most 1.10).
Saliency and Grad-CAM run on the batch of 8 (saliency also on one image); integrated gradients (16 steps),
SmoothGrad (8 samples) and occlusion (window size/4, stride size/8) on one image, to stay affordable. It
also prints the one-time costs the ratios exclude: the memory probe and resolving target "predicted".

Usage: python bench/explain.py [--quick] [--threads N]   (about 4 minutes on 2 idle cores;
--quick: 64 px, batch 2, one repetition, a smoke run of about 25 s)
"""

import argparse
import os
import statistics
import time
import warnings
from functools import partial

import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Occlusion, Saliency

from medattn.config import ModelSpec
from medattn.errors import ConfigError
from medattn.explain.api import explain
from medattn.explain.baselines import make_baseline
from medattn.explain.chunking import bytes_per_image, chunk_size
from medattn.explain.methods import METHODS
from medattn.explain.targets import TargetModel, resolve_targets
from medattn.models import create_model

EXPENSIVE = {"integrated-gradients", "smoothgrad", "occlusion"}  # many forward passes per map
TARGET = 1


def build(backbone: str, attention: str, size: int):
    spec = ModelSpec(backbone, attention, num_classes=2, image_size=size)
    return create_model(spec, load_weights=False).eval()


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def maps_per_second(model, images, method: str, reps: int) -> str:
    """explain() maps/s (median of ``reps`` calls), or why there is none."""
    try:
        times = [seconds(lambda: explain(model, images, TARGET, method)) for _ in range(reps)]
    except ConfigError as error:
        return f"refused: {error}"
    except ImportError as error:
        return f"unavailable ({error})"
    return f"{len(images) / statistics.median(times):.2f} maps/s"


def part1(size: int, batch: int, reps: int) -> None:
    images = torch.randn(batch, 3, size, size)
    for backbone, attention, methods in (
        ("resnet18", "none", list(METHODS)),
        ("resnet50", "none", list(METHODS)),
        ("resnet18", "cbam", ["attention"]),
    ):
        model = build(backbone, attention, size)
        explain(model, images, TARGET, "saliency")  # warm-up: allocator, kernels
        name = backbone if attention == "none" else f"{backbone}+{attention}"
        for method in methods:
            expensive = method in EXPENSIVE
            part = images[:1] if expensive else images
            n = 1 if expensive else reps
            result = maps_per_second(model, part, method, n)
            print(f"{name:<15} {method:<21} batch {len(part)}, {n} call(s): {result}", flush=True)


def explain_maps(model, images, method: str, options: dict) -> torch.Tensor:
    return explain(model, images, TARGET, method, **options).maps


def direct_call(model, images, chunk: int, method: str, options: dict):
    """captum called directly with the arguments medattn passes (and its channel reduction)."""
    targets = torch.full((len(images),), TARGET)
    black = make_baseline("black", images)
    c, h, w = images.shape[1:]

    def saliency():
        return Saliency(model).attribute(images, target=targets, abs=True).abs().amax(1, keepdim=True)

    def integrated_gradients():
        ig = IntegratedGradients(model)
        attributions, _ = ig.attribute(
            images, baselines=black, target=targets, n_steps=options["n_steps"],
            method="gausslegendre", internal_batch_size=chunk, return_convergence_delta=True,
        )  # fmt: skip
        return attributions.sum(1, keepdim=True)

    def smoothgrad():
        n = options["n_samples"]
        spread = (images.amax() - images.amin()).item()
        torch.manual_seed(0)  # explain() seeds its noise with seed 0 too
        grads = NoiseTunnel(Saliency(model)).attribute(
            images, nt_type="smoothgrad", nt_samples=n, nt_samples_batch_size=min(n, max(1, chunk // len(images))),
            stdevs=0.15 * spread, target=targets, abs=True,
        )  # fmt: skip
        return grads.abs().amax(1, keepdim=True)

    def gradcam():
        cam = LayerGradCam(model, model.backbone.stages[-1]).attribute(images, target=targets, relu_attributions=True)
        return LayerAttribution.interpolate(cam, (h, w), "bilinear")

    def occlusion():
        window, stride = options["window"], options["stride"]
        windows = ((h - window) // stride + 1) * ((w - window) // stride + 1)
        scores = Occlusion(model).attribute(
            images, sliding_window_shapes=(c, window, window), strides=(c, stride, stride), baselines=black,
            target=targets, perturbations_per_eval=min(windows, max(1, chunk // len(images))),
        )  # fmt: skip
        return scores.mean(1, keepdim=True)

    calls = {
        "saliency": saliency,
        "integrated-gradients": integrated_gradients,
        "smoothgrad": smoothgrad,
        "gradcam": gradcam,
        "occlusion": occlusion,
    }
    return calls[method]


def part2(size: int, batch: int, quick: bool) -> None:
    model = build("resnet18", "none", size)
    images = torch.randn(batch, 3, size, size)
    wrapped = TargetModel(model, "softmax")
    one = images[:1]

    # One-time costs, excluded from the ratios below.
    probe = statistics.median(seconds(lambda: bytes_per_image(TargetModel(model, "softmax"), one)) for _ in range(3))
    with torch.no_grad():
        forward_one = statistics.median(seconds(lambda: model(one)) for _ in range(3))
        forward_batch = statistics.median(seconds(lambda: model(images)) for _ in range(3))
    predicted = statistics.median(seconds(lambda: resolve_targets("predicted", wrapped, images)) for _ in range(3))
    print(
        f"resnet18 {size} px: memory probe {probe:.3f} s (a no-grad forward of one image: {forward_one:.3f} s); "
        f"target 'predicted' {predicted:.3f} s (a no-grad forward of the batch of {batch}: {forward_batch:.3f} s)"
    )

    chunk = chunk_size(wrapped, images)
    window = max(2, size // 4)  # a coarser grid than explain()'s default (size // 8) keeps occlusion affordable
    settings = [  # method, images, explain() options, rounds
        ("saliency", images, {}, 5),
        ("saliency", one, {}, 10),
        ("gradcam", images, {}, 5),
        ("integrated-gradients", one, {"n_steps": 16}, 5),
        ("smoothgrad", one, {"n_samples": 8}, 5),
        ("occlusion", one, {"window": window, "stride": window // 2}, 7),
    ]
    if quick:
        settings = [(m, x, o, 1) for m, x, o, _ in settings]
    print(f"explain(TargetModel) keeps the probe cached; explain() and captum use {chunk} images per pass")
    explain(model, images, TARGET, "saliency")  # warm-up; also caches the probe for `wrapped`
    explain(wrapped, images, TARGET, "saliency")
    for method, part, options, rounds in settings:
        direct = direct_call(model, part, chunk, method, options)
        variants = {
            "explain": partial(explain_maps, model, part, method, options),
            "captum": direct,
            "explain(TargetModel)": partial(explain_maps, wrapped, part, method, options),
        }
        times = {name: [] for name in variants}
        for _ in range(rounds):
            for name, fn in variants.items():
                times[name].append(seconds(fn))
        gap = (variants["explain"]() - direct()).abs().max().item()
        med = {name: statistics.median(t) for name, t in times.items()}
        shown = ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"
        print(
            f"{method:<21} batch {len(part)} ({shown}), {rounds} rounds: explain {med['explain']:.3f} s, "
            f"captum {med['captum']:.3f} s, explain(TargetModel) {med['explain(TargetModel)']:.3f} s; "
            f"explain/captum {med['explain'] / med['captum']:.2f}, "
            f"explain(TargetModel)/captum {med['explain(TargetModel)'] / med['captum']:.2f}; "
            f"maps differ by at most {gap:.1e}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 px, batch 2, one repetition (smoke run)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    size, batch, reps = (64, 2, 1) if args.quick else (224, 8, 3)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")  # captum Saliency
    start = time.perf_counter()
    print(
        f"{size} px, torch {torch.__version__}, {torch.get_num_threads()} threads on {os.cpu_count()} CPUs, "
        f"explicit target {TARGET}; load average before the run {os.getloadavg()[0]:.2f}"
    )
    part1(size, batch, reps)
    part2(size, batch, args.quick)
    print(f"total {time.perf_counter() - start:.0f} s; load average {os.getloadavg()[0]:.2f} (this run included)")


if __name__ == "__main__":
    main()
