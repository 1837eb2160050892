"""Crash-safe checkpoints: model weights as safetensors, trainer state as a weights-only torch file.

Both are written to a temporary file, fsynced and renamed, so a kill (or a full disk) at any moment
leaves the previous checkpoint intact. Nothing is ever loaded in a way that can execute code.
"""

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from medattn.errors import ConfigError
from medattn.io import write_atomic

CHECKPOINTS = ("best-val", "best-train", "last")


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers as contiguous CPU tensors."""
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}


def save_weights(model: nn.Module, path: Path) -> Path:
    """The model's state (parameters and buffers) as safetensors, atomically."""
    state = model_state(model)
    return write_atomic(path, lambda tmp: save_file(state, tmp))


def load_weights(model: nn.Module, path: Path) -> None:
    """Load safetensors weights saved by ``save_weights`` for the same architecture."""
    if not path.is_file():
        raise ConfigError(f"{path}: checkpoint not found")
    try:
        state = load_file(str(path))
    except Exception as exc:
        raise ConfigError(f"{path}: not a safetensors checkpoint ({str(exc).splitlines()[0][:120]})") from None
    own = model.state_dict()
    bad = [k for k in own if k not in state or state[k].shape != own[k].shape]
    if bad or set(state) - set(own):
        first = bad[0] if bad else sorted(set(state) - set(own))[0]
        raise ConfigError(f"{path}: checkpoint of another architecture (first mismatch: '{first}')")
    model.load_state_dict(state)


def save_trainer_state(state: dict, path: Path) -> Path:
    """Optimiser, scheduler, epoch, RNG and early-stopping state (tensors and plain values only)."""
    return write_atomic(path, lambda tmp: torch.save(state, tmp))


def load_trainer_state(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: no trainer state to resume from")
    return torch.load(path, map_location="cpu", weights_only=True)
