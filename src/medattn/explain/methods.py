"""The attribution methods behind ``explain``: one registry entry per method.

Each method returns raw maps [B, 1, H, W] at input resolution. Per-channel attributions are reduced
to one map per image as the method's paper does: gradient magnitudes by the maximum over colour
channels (Simonyan et al. 2014), signed attributions (IG, DeepLIFT, LRP, Guided Grad-CAM) by the
sum over channels (their relevances of one pixel add up), occlusion by the mean (each channel
repeats the same window score).

A map depends on (model, image, target, method, options, seed) only, not on the other images of the
batch or on the chunk size: random draws (SmoothGrad's noise, the ``uniform`` baseline) are a function
of the seed and the image's shape, the same draws for every image.
"""

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from captum.attr import GuidedBackprop, IntegratedGradients, Occlusion, Saliency
from torch import nn

from medattn.errors import ConfigError
from medattn.explain.gradcam import gradcam
from medattn.explain.native import attention_map, attention_rollout


@dataclass
class Request:
    """One batch to explain, with everything a method may need."""

    model: nn.Module  # a TargetModel
    images: torch.Tensor
    targets: torch.Tensor
    options: dict
    baseline: torch.Tensor | None
    chunk: int  # images per forward(+backward) under the memory limit
    seed: int = 0  # seed of the method's own draws (SmoothGrad noise)


@dataclass(frozen=True)
class Method:
    """A registered method: what it computes, its options with defaults, and how it runs."""

    name: str
    reference: str
    run: Callable[[Request], "torch.Tensor | tuple[torch.Tensor, dict]"]
    signed: bool
    options: dict = field(default_factory=dict)
    uses_baseline: bool = False
    stochastic: bool = False
    class_specific: bool = True


def _reduce(attributions: torch.Tensor, how: str) -> torch.Tensor:
    if how == "max-abs":
        return attributions.abs().amax(1, keepdim=True)
    if how == "mean":
        return attributions.mean(1, keepdim=True)
    return attributions.sum(1, keepdim=True)


def _saliency(req: Request) -> torch.Tensor:
    grads = Saliency(req.model).attribute(req.images, target=req.targets, abs=True)
    return _reduce(grads, "max-abs")


def _integrated_gradients(req: Request):
    ig = IntegratedGradients(req.model)
    attributions, delta = ig.attribute(
        req.images, baselines=req.baseline, target=req.targets, n_steps=req.options["n_steps"],
        method=req.options["integration"], internal_batch_size=req.chunk, return_convergence_delta=True,
    )  # fmt: skip
    return _reduce(attributions, "sum"), {"convergence_delta": delta.detach()}


def _smoothgrad(req: Request) -> torch.Tensor:
    """Mean |gradient| over ``n_samples`` noisy copies ``x + sigma * e_k`` of each image (Smilkov et al. 2017).

    ``sigma = noise * (max - min)`` of each image on its own, as in the paper. The standard-normal draws
    ``e_k`` [n_samples, C, H, W] come from a CPU generator seeded with the explanation's seed: every image
    gets the same draws, scaled by its own sigma, so its map does not depend on its batch position, the
    other images or the chunk size. The copies run ``req.chunk`` per pass (one image's copies may span passes).
    """
    images, n = req.images.detach(), req.options["n_samples"]
    flat = images.flatten(1)
    sigmas = req.options["noise"] * (flat.amax(1) - flat.amin(1))
    generator = torch.Generator().manual_seed(req.seed)
    draws = torch.randn((n, *images.shape[1:]), generator=generator).to(images)
    total = torch.zeros_like(images)
    for copies in torch.arange(len(images) * n, device=images.device).split(req.chunk):
        owner, sample = copies // n, copies % n
        noisy = images[owner] + sigmas[owner].view(-1, 1, 1, 1) * draws[sample]
        gradients = Saliency(req.model).attribute(noisy.requires_grad_(True), target=req.targets[owner], abs=True)
        for image in owner.unique_consecutive():  # a per-image sum, deterministic on CUDA (unlike index_add_)
            total[image] += gradients[owner == image].sum(0)
    return _reduce(total / n, "max-abs")


def _deeplift(req: Request):
    from medattn.explain import deeplift as deeplift_rules  # captum's DeepLift plus medattn's product rule

    attributions, delta = deeplift_rules.deeplift(req.model, req.images, req.targets, req.baseline)
    return _reduce(attributions, "sum"), {"convergence_delta": delta.detach()}


def _lrp(req: Request) -> torch.Tensor:
    from medattn.explain import lrp as lrp_rules  # zennit is imported only when LRP is used

    options = {k: req.options[k] for k in ("rule", "epsilon", "alpha", "beta")}
    return _reduce(lrp_rules.lrp(req.model, req.images, req.targets, **options), "sum")


def _gradcam(req: Request) -> torch.Tensor:
    return gradcam(req.model, req.images, req.targets, req.options["layer"], relu=req.options["relu"])


NOT_RELU = (nn.SiLU, nn.GELU, nn.Hardswish, nn.Mish, nn.ELU, nn.LeakyReLU, nn.Softplus, nn.Tanh)


def _guided_gradcam(req: Request) -> torch.Tensor:
    for name, module in req.model.model.named_modules():
        if isinstance(module, NOT_RELU):
            raise ConfigError(
                f"guided-gradcam cannot handle layer '{name}' ({type(module).__name__}): guided backpropagation "
                "is defined for ReLU networks; use gradcam"
            )
    with warnings.catch_warnings():  # captum announces its temporary ReLU hooks on every call
        warnings.simplefilter("ignore", UserWarning)
        guided = GuidedBackprop(req.model).attribute(req.images, target=req.targets)
    cam = gradcam(req.model, req.images, req.targets, req.options["layer"])
    return _reduce(guided * cam, "sum")


def _occlusion(req: Request) -> torch.Tensor:
    c, h, w = req.images.shape[1:]
    window = req.options["window"] or max(2, min(h, w) // 8)
    stride = req.options["stride"] or max(1, window // 2)
    windows = ((h - window) // stride + 1) * ((w - window) // stride + 1)  # captum does not cap its batch
    scores = Occlusion(req.model).attribute(
        req.images, sliding_window_shapes=(c, window, window), strides=(c, stride, stride), baselines=req.baseline,
        target=req.targets, perturbations_per_eval=min(windows, max(1, req.chunk // len(req.images))),
    )  # fmt: skip
    return _reduce(scores, "mean")


def _attention(req: Request) -> torch.Tensor:
    return attention_map(req.model, req.images, req.options["layer"])


def _rollout(req: Request) -> torch.Tensor:
    return attention_rollout(req.model, req.images)


_LRP_OPTIONS = {"rule": "epsilon", "epsilon": 1e-6, "alpha": 1.0, "beta": 0.0}
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("saliency", "Simonyan et al. 2014, Deep Inside Convolutional Networks", _saliency, signed=False),
        Method(
            "integrated-gradients",
            "Sundararajan et al. 2017, Axiomatic Attribution for Deep Networks",
            _integrated_gradients,
            signed=True,
            options={"n_steps": 50, "integration": "gausslegendre"},
            uses_baseline=True,
        ),  # fmt: skip
        Method(
            "smoothgrad",
            "Smilkov et al. 2017, SmoothGrad",
            _smoothgrad,
            signed=False,
            options={"n_samples": 25, "noise": 0.15},
            stochastic=True,
        ),  # fmt: skip
        Method(
            "deeplift", "Shrikumar et al. 2017, DeepLIFT (Rescale rule)", _deeplift, signed=True, uses_baseline=True
        ),
        Method("lrp", "Bach et al. 2015, Layer-wise Relevance Propagation", _lrp, signed=True, options=_LRP_OPTIONS),
        Method(
            "gradcam",
            "Selvaraju et al. 2017, Grad-CAM",
            _gradcam,
            signed=False,
            options={"layer": None, "relu": True},
        ),  # fmt: skip
        Method(
            "guided-gradcam",
            "Selvaraju et al. 2017, Guided Grad-CAM",
            _guided_gradcam,
            signed=True,
            options={"layer": None},
        ),  # fmt: skip
        Method(
            "occlusion",
            "Zeiler & Fergus 2014, occlusion sensitivity",
            _occlusion,
            signed=True,
            options={"window": None, "stride": None},
            uses_baseline=True,
        ),  # fmt: skip
        Method(
            "attention",
            "native attention map (see medattn.explain.native)",
            _attention,
            signed=False,
            options={"layer": None},
            class_specific=False,
        ),  # fmt: skip
        Method("rollout", "Abnar & Zuidema 2020, attention rollout", _rollout, signed=False, class_specific=False),
    )
}
