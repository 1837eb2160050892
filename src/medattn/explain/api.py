"""``explain(model, images, target, method, **options)``: one verb for every attribution method.

Maps come back raw ([B, 1, H, W] at input resolution, signed where the method is signed); display
normalisation is a separate step (``medattn.explain.display``). Everything needed to reproduce a
map is stored with it: method, resolved options, baseline name, seed, the model's mode and the
targets. Same input, same seed, same map; and in ``eval`` mode an image's map is the same alone, at
any position of any batch and for any ``memory_limit`` (random draws depend on the seed and the image
shape only; see ``medattn.explain.methods``). In ``train`` mode BatchNorm's batch statistics and
dropout masks depend on the batch by definition.
"""

from dataclasses import dataclass, field

import torch
from torch import nn

from medattn.errors import ConfigError, choose
from medattn.explain.baselines import BASELINES, Normalisation, make_baseline
from medattn.explain.chunking import chunk_size
from medattn.explain.methods import METHODS, Method, Request
from medattn.explain.targets import TargetModel, head_kind, resolve_targets

MODES = ("eval", "train")


@dataclass
class Explanation:
    """Raw maps and how they were made.

    Attributes:
        maps: [B, 1, H, W] float32 on the CPU ([B, K, H, W] for ``target="all"``: one map per finding).
        method, options: the method and its resolved options (baseline name included).
        targets: the explained output column per image; ``target_rule`` how they were chosen.
        signed: whether negative values carry meaning.
        seed: seed of stochastic parts (noise, uniform baselines).
        model_mode: ``eval`` or ``train`` during the explanation.
        extras: per-image diagnostics, e.g. ``convergence_delta`` of IG/DeepLIFT.
    """

    maps: torch.Tensor
    method: str
    options: dict
    targets: torch.Tensor
    target_rule: str
    signed: bool
    seed: int
    model_mode: str
    extras: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        """JSON-ready description of how the maps were made."""
        return {
            "method": self.method,
            "options": self.options,
            "targets": self.targets.tolist(),
            "target_rule": self.target_rule,
            "signed": self.signed,
            "seed": self.seed,
            "model_mode": self.model_mode,
            **{k: v.tolist() for k, v in self.extras.items()},
        }


def resolve_options(method: Method, options: dict, baseline: str | None) -> dict:
    """Method defaults updated by ``options``; unknown options are refused with the valid ones."""
    unknown = sorted(set(options) - set(method.options))
    if unknown:
        valid = ", ".join(method.options) or "none"
        raise ConfigError(f"method '{method.name}' has no option '{unknown[0]}'; its options: {valid}")
    resolved = {**method.options, **options}
    if method.uses_baseline:
        resolved["baseline"] = choose("baseline", baseline or "black", BASELINES)
    elif baseline is not None:
        raise ConfigError(f"method '{method.name}' takes no baseline")
    return resolved


def explain(
    model: nn.Module,
    images: torch.Tensor,
    target: "str | int | list[int] | torch.Tensor" = "predicted",
    method: str = "saliency",
    *,
    labels: torch.Tensor | None = None,
    head: str | None = None,
    baseline: str | None = None,
    normalisation: Normalisation | None = None,
    seed: int = 0,
    mode: str = "eval",
    memory_limit: int | None = None,
    **options,
) -> Explanation:
    """Explain a batch of normalised images.

    Args:
        model: a medattn classifier (or a ``TargetModel`` wrapping one).
        images: normalised inputs [B, C, H, W]; computed in the model's dtype (float32 unless the model
            was converted, e.g. ``model.double()``).
        target: ``"predicted"``, ``"label"`` (with ``labels``), a column, one column per image, or
            ``"all"`` for multilabel heads (one map per finding, stacked along dim 1).
        method: one of ``METHODS``.
        head: ``softmax``, ``sigmoid`` or ``multilabel``; default from the number of logits.
        baseline: ``black``, ``blurred``, ``uniform`` or ``mean`` for methods that take one (default black).
        normalisation: how ``images`` were normalised (baselines are defined in pixel space).
        seed: seed for noise and random baselines (the same draws for every image of the batch).
        mode: run the model in ``eval`` (default) or ``train`` mode; the caller's mode is restored.
        memory_limit: bytes one forward+backward chunk may use (default 2 GiB, less on a full GPU).
        **options: method options (e.g. ``n_steps``, ``layer``, ``rule``); unknown ones are refused.
    """
    entry = METHODS[choose("method", method, METHODS)]
    choose("mode", mode, MODES)
    wrapped = model if isinstance(model, TargetModel) else TargetModel(model, head or head_kind(model))
    resolved = resolve_options(entry, options, baseline)
    normalisation = normalisation or Normalisation()
    parameter = next(wrapped.parameters())
    images = images.to(parameter.device, parameter.dtype if parameter.is_floating_point() else torch.float32)
    modes = {module: module.training for module in wrapped.modules()}
    wrapped.train(mode == "train")
    try:
        if isinstance(target, str) and target == "all":
            return _explain_findings(wrapped, images, entry, resolved, normalisation, seed, mode, memory_limit)
        chosen = resolve_targets(target, wrapped, images, labels)
        maps, extras = _run(wrapped, images, chosen.indices, entry, resolved, normalisation, seed, memory_limit)
    finally:
        for module, training in modes.items():
            module.training = training
    return Explanation(maps, entry.name, resolved, chosen.indices, chosen.rule, entry.signed, seed, mode, extras)


def _explain_findings(wrapped, images, entry, resolved, normalisation, seed, mode, memory_limit) -> Explanation:
    if wrapped.head != "multilabel":
        raise ConfigError(f"target 'all' explains every finding of a multilabel head; this head is '{wrapped.head}'")
    with torch.no_grad():
        findings = wrapped(images[:1]).shape[1]
    per_finding = []
    for k in range(findings):
        targets = torch.full((len(images),), k, dtype=torch.long)
        per_finding.append(_run(wrapped, images, targets, entry, resolved, normalisation, seed, memory_limit)[0])
    targets = torch.arange(findings).repeat(len(images), 1)
    return Explanation(torch.cat(per_finding, 1), entry.name, resolved, targets, "all", entry.signed, seed, mode)


def _run(wrapped, images, targets, entry, resolved, normalisation, seed, memory_limit):
    """Run the method chunk by chunk under the memory limit; returns maps and per-image extras."""
    chunk = chunk_size(wrapped, images, memory_limit)
    maps, extras = [], {}
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk].detach().requires_grad_(True)
        base = None
        if entry.uses_baseline:
            base = make_baseline(resolved["baseline"], part.detach(), normalisation, seed=seed)
        options = {k: v for k, v in resolved.items() if k != "baseline"}
        request = Request(wrapped, part, targets[start : start + chunk].to(images.device), options, base, chunk, seed)
        # The methods draw from their own seeded generators; the fork keeps whatever else draws from the
        # global RNG (dropout with mode="train") reproducible and the caller's random state untouched.
        with torch.random.fork_rng(devices=[images.device] if images.device.type == "cuda" else []):
            torch.manual_seed(seed)
            result = entry.run(request)
        part_maps, part_extras = result if isinstance(result, tuple) else (result, {})
        maps.append(part_maps.detach().float().cpu())
        for key, value in part_extras.items():
            extras.setdefault(key, []).append(value.float().cpu())
    return torch.cat(maps), {k: torch.cat(v) for k, v in extras.items()}
