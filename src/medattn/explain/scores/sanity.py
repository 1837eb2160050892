"""Sanity check: model-parameter randomisation (Adebayo et al. 2018).

An explanation that barely changes when the model's weights are replaced by random ones cannot be
explaining what the model learned (an edge detector passes for a saliency map this way). The check
is a pass/fail test only: Binder et al. (2023), "Shortcomings of top-down randomization-based sanity
checks for evaluations of deep neural network explanations" (CVPR), show that the size of the drop in
similarity does not rank methods by quality, so no score from here should be compared across methods
beyond its verdict.
"""

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from medattn.errors import ConfigError, choose
from medattn.explain.scores._checks import check_images, check_maps, check_same_shape, check_targets
from medattn.explain.scores.repeatability import SIMILARITY_MEASURES, spearman, ssim

ModelExplain = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
RANDOMISATION_MODES = ("cascading", "independent")
DEFAULT_THRESHOLDS = {"spearman": 0.5, "ssim": 0.5}
MAX_GROUPS = 8
FALLBACK_STD = 0.02  # for constant parameters without an initialiser (timm's trunc_normal_ default)


@dataclass(frozen=True)
class RandomisationResult:
    """Outcome of :func:`randomisation_check`.

    Attributes:
        mode: ``"cascading"`` or ``"independent"``.
        measure: ``"spearman"`` (of ``|maps|``) or ``"ssim"`` (of ``|maps| / max|maps|``).
        steps: names of the parameter groups randomised at each step (cascading: cumulative, from the output).
        similarity: ``[steps, B]`` similarity of each image's map to its map under the trained model.
        threshold: the verdict threshold on the mean similarity.
        statistic: the mean similarity the verdict is based on (see :func:`randomisation_check`).
        passed: True when ``statistic <= threshold`` (the maps depend on the weights).
    """

    mode: str
    measure: str
    steps: tuple[str, ...]
    similarity: np.ndarray
    threshold: float
    statistic: float
    passed: bool


@dataclass(frozen=True)
class _Group:
    module: str  # dotted name; "" is the model itself
    recursive: bool  # False: only the module's own (direct) parameters

    @property
    def label(self) -> str:
        name = self.module or "<model>"
        return name if self.recursive else f"{name} (own parameters)"


def _has_parameters(module: nn.Module, recurse: bool) -> bool:
    return next(module.parameters(recurse=recurse), None) is not None


def _size(model: nn.Module, group: _Group) -> int:
    return sum(p.numel() for p in model.get_submodule(group.module).parameters(recurse=group.recursive))


def _expand(model: nn.Module, group: _Group) -> list[_Group] | None:
    """The group split into its module's own parameters and one group per child with parameters."""
    module = model.get_submodule(group.module)
    prefix = f"{group.module}." if group.module else ""
    children = [_Group(prefix + name, True) for name, child in module.named_children() if _has_parameters(child, True)]
    if not group.recursive or not children:
        return None
    own = [_Group(group.module, False)] if _has_parameters(module, False) else []
    return own + children


def parameter_groups(model: nn.Module, max_groups: int = MAX_GROUPS) -> list[str]:
    """The groups of parameters the check randomises, in module registration order (input side first).

    Starting from the whole model, the group with the most parameters is split into its children
    (plus the module's own parameters, if any) while the number of groups stays within ``max_groups``.
    Wrappers with one child (``TargetModel``, ``Classifier.backbone``) are looked through, so a
    ResNet ends up grouped by stage and head, a small CNN by layer. Registration order is the order of
    ``named_modules()``, which is the forward order for the sequential models medattn builds.
    """
    return [group.label for group in _split(model, max_groups)]


def _split(model: nn.Module, max_groups: int) -> list[_Group]:
    if not isinstance(max_groups, int) or max_groups < 1:
        raise ConfigError(f"max_groups must be a positive integer, got {max_groups!r}")
    groups = [_Group("", True)]
    while True:
        for group in sorted(groups, key=lambda g: -_size(model, g)):
            parts = _expand(model, group)
            if parts is not None and len(groups) - 1 + len(parts) <= max_groups:
                at = groups.index(group)
                groups[at : at + 1] = parts
                break
        else:
            return groups


def _named_groups(model: nn.Module, names: Sequence[str]) -> list[_Group]:
    modules = dict(model.named_modules())
    for name in names:
        if name not in modules or not _has_parameters(modules[name], True):
            valid = [n for n, m in model.named_children() if _has_parameters(m, True)]
            raise ConfigError(f"unknown parameter group '{name}'; use module names, e.g.: {', '.join(valid)}")
    return [_Group(name, True) for name in names]


@torch.no_grad()
def _reinitialise(model: nn.Module, group: _Group) -> None:
    """Re-draw a group's parameters: leaf modules via their own ``reset_parameters``, others ~ N(0, std)."""
    root = model.get_submodule(group.module)
    for module in root.modules() if group.recursive else [root]:
        if not _has_parameters(module, False):
            continue
        is_leaf = next(module.children(), None) is None
        if is_leaf and callable(getattr(module, "reset_parameters", None)):
            module.reset_parameters()
            continue
        for parameter in module.parameters(recurse=False):
            std = float(parameter.std()) if parameter.numel() > 1 else 0.0
            parameter.normal_(0.0, std if std > 0 else FALLBACK_STD)


def _similarity(original: torch.Tensor, maps: torch.Tensor, measure: str) -> np.ndarray:
    """Per-image similarity; undefined Spearman (a constant map) reads 1 if the maps are equal, else 0."""
    values = spearman(original, maps, absolute=True) if measure == "spearman" else ssim(original, maps)
    equal = (original.abs() == maps.abs()).flatten(1).all(1).cpu().numpy()
    return np.where(np.isnan(values), equal.astype(np.float64), values)


def _explained(explain: ModelExplain, model: nn.Module, images, targets, like: torch.Tensor | None) -> torch.Tensor:
    maps = check_maps(explain(model, images, targets), "explain(model, images, targets)")
    if maps.shape[0] != images.shape[0] or maps.shape[2:] != images.shape[2:]:
        raise ConfigError(f"explain returned maps {list(maps.shape)} for images {list(images.shape)}")
    if like is not None:
        check_same_shape(maps, like, "maps of the randomised model", "maps of the trained model")
    return maps


def randomisation_check(
    model: nn.Module,
    explain: ModelExplain,
    images,
    targets,
    *,
    mode: str = "cascading",
    measure: str = "spearman",
    seed: int = 0,
    threshold: float | None = None,
    groups: Sequence[str] | None = None,
    max_groups: int = MAX_GROUPS,
) -> RandomisationResult:
    """Model-parameter randomisation test (Adebayo et al. 2018, "Sanity checks for saliency maps", NeurIPS).

    Parameter groups (:func:`parameter_groups`, or the module names in ``groups``) are re-initialised
    from the output side down, on deep copies: the caller's model is never modified. ``"cascading"``
    re-initialises groups cumulatively (after step k the top k groups are random, after the last step
    all of them); ``"independent"`` re-initialises one group at a time with the rest trained. Leaf
    modules are reset with their own ``reset_parameters`` (PyTorch's default initialisers; BatchNorm
    also forgets its running statistics); parameters of other modules are drawn from ``N(0, std)`` of
    the trained values. Group k is re-drawn after ``torch.manual_seed(seed + k)`` inside
    ``torch.random.fork_rng``, so both modes draw the same weights and the global RNG is untouched.

    Similarity to the trained model's maps, per image: ``"spearman"`` is the rank correlation of
    ``|maps|`` (Adebayo et al.'s absolute variant; a constant map counts 0, or 1 if both maps are
    equal), ``"ssim"`` the SSIM of ``|maps| / max|maps|``.

    Verdict (pass/fail only, see the module doc on Binder et al. 2023): ``statistic`` is the mean over
    images of the similarity after full randomisation (last cascading step) or, in independent mode,
    the lowest mean over the groups (some group must matter). The check fails when it stays above
    ``threshold`` (default 0.5 for both measures): the explanation does not depend on the weights.

    Args:
        model: the trained model (not modified).
        explain: ``(model, images, targets) -> maps [B, 1, H, W]``.
        images: ``[B, C, H, W]``; targets: ``[B]`` class explained for each image.
        mode: ``"cascading"`` or ``"independent"``.
        measure: ``"spearman"`` or ``"ssim"``.
        seed: seed of the re-initialisation.
        threshold: verdict threshold on the mean similarity.
        groups: module names to randomise (input side first); default :func:`parameter_groups`.
        max_groups: most groups :func:`parameter_groups` makes.
    """
    choose("randomisation mode", mode, RANDOMISATION_MODES)
    choose("similarity measure", measure, SIMILARITY_MEASURES)
    images = check_images(images)
    targets = check_targets(targets, images.shape[0], images.device)
    threshold = DEFAULT_THRESHOLDS[measure] if threshold is None else float(threshold)
    if not _has_parameters(model, True):
        raise ConfigError("the model has no parameters to randomise")
    order = list(reversed(_named_groups(model, groups) if groups is not None else _split(model, max_groups)))
    original = _explained(explain, copy.deepcopy(model), images, targets, None)
    cuda = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    rows, current = [], copy.deepcopy(model)
    with torch.random.fork_rng(devices=cuda):
        for index, group in enumerate(order):
            if mode == "independent":
                current = copy.deepcopy(model)
            torch.manual_seed(seed + index)
            _reinitialise(current, group)
            rows.append(_similarity(original, _explained(explain, current, images, targets, original), measure))
    similarity = np.stack(rows)
    means = similarity.mean(axis=1)
    statistic = float(means[-1] if mode == "cascading" else means.min())
    return RandomisationResult(
        mode=mode,
        measure=measure,
        steps=tuple(group.label for group in order),
        similarity=similarity,
        threshold=threshold,
        statistic=statistic,
        passed=statistic <= threshold,
    )
