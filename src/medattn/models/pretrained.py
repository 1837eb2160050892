"""Pretrained weights: found offline (timm/Hugging Face cache, torch hub cache, or a file), checked
against the architecture, never downloaded, never silently skipped."""

import os
from pathlib import Path

import torch
from torch import nn

from medattn.errors import ConfigError

WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module")


def cached_weight_files(model: nn.Module) -> list[Path]:
    """Where timm would have stored this model's default ImageNet weights, newest convention first."""
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    candidates = []
    if cfg.get("hf_hub_id"):
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "open_clip_pytorch_model.bin", "pytorch_model.bin"):
            found = try_to_load_from_cache(cfg["hf_hub_id"], filename)
            if isinstance(found, str):
                candidates.append(Path(found))
    if cfg.get("url"):
        candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg["url"]))
    return [path for path in candidates if path.is_file()]


def find_weights(model: nn.Module, backbone: str, weights: str | None) -> Path:
    """The weights file to load: ``weights`` if given, else the first cached ImageNet file."""
    if weights:
        path = Path(weights)
        if not path.is_file():
            raise ConfigError(f"--weights {path}: file not found")
        return path
    found = cached_weight_files(model)
    if not found:
        cfg = getattr(model, "pretrained_cfg", {}) or {}
        raise ConfigError(
            f"pretrained weights for {backbone} ({cfg.get('hf_hub_id') or cfg.get('url')}) are not in the local "
            "timm/Hugging Face or torch hub cache and nothing is downloaded; pass --weights PATH or pretrained: false"
        )
    return found[0]


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file or a PyTorch checkpoint (``weights_only=True``), unwrapped."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any parse failure means "not a weights file"
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"--weights {path}: not a weights file ({reason})") from None
    while isinstance(state, dict) and len(state) == 1 and next(iter(state)) in WRAPPER_KEYS:
        state = next(iter(state.values()))
    for key in WRAPPER_KEYS[:3]:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"--weights {path}: not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_backbone_weights(model: nn.Module, path: Path, backbone: str, head_modules: set[str]) -> dict:
    """Load ``path`` into the plain timm ``model``; every backbone tensor must be present with its shape.

    Returns a report: the file, how many tensors were loaded, and which keys of the file were
    ignored (the ImageNet classifier and anything else the backbone lacks).
    """
    state = read_state_dict(path)
    own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    required = {k: v for k, v in own.items() if k.split(".")[0] not in head_modules}
    bad = [k for k, v in required.items() if k not in state or state[k].shape != v.shape]
    if bad:
        key = bad[0]
        expected = tuple(required[key].shape)
        why = "missing" if key not in state else f"shape {tuple(state[key].shape)}, expected {expected}"
        raise ConfigError(
            f"--weights {path}: does not fit {backbone}: {len(required) - len(bad)} of {len(required)} tensors "
            f"match (first problem: '{key}' {why})"
        )
    model.load_state_dict({k: state[k] for k in required}, strict=False)
    ignored = sorted(k for k in set(state) - set(required) if not k.endswith("num_batches_tracked"))
    return {"file": str(path), "loaded_tensors": len(required), "ignored_keys": ignored}
