"""Crash-safe checkpoints: model weights as safetensors, trainer state as a weights-only torch file.

Both are serialised in memory, then written to a temporary file, fsynced and renamed, so a kill (or a full disk) at
any moment leaves the previous checkpoint intact, and a full disk is an ``OSError`` naming the file (torch and
safetensors would report it as their own, unnamed errors). Nothing is ever loaded in a way that can execute code,
and a damaged or foreign file is a one-line ConfigError naming it.
"""

import io
from pathlib import Path

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from medattn.errors import ConfigError
from medattn.io import write_atomic

CHECKPOINTS = ("best-val", "best-train", "last")
#: What ``medattn.train.run`` keeps in a trainer state besides the model (kind of value of each entry).
TRAINER_STATE = {"epoch": int, "history": list, "best_val": float, "best_train": float, "stale_epochs": int,
                 "optimizer": dict, "scheduler": dict}  # fmt: skip


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers as contiguous CPU tensors."""
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}


def _write_bytes(path: Path, data: bytes | memoryview) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)

    return write_atomic(path, write)


def save_weights(model: nn.Module, path: Path) -> Path:
    """The model's state (parameters and buffers) as safetensors, atomically."""
    return _write_bytes(path, safetensors_bytes(model_state(model)))


def load_weights(model: nn.Module, path: Path) -> None:
    """Load safetensors weights saved by ``save_weights`` for the same architecture."""
    if not path.is_file():
        raise ConfigError(f"{path}: checkpoint not found")
    try:
        state = load_file(str(path))
    except Exception as exc:
        raise ConfigError(f"{path}: not a safetensors checkpoint ({_first_line(exc)})") from None
    check_architecture(model, state, path)
    model.load_state_dict(state)


def check_architecture(model: nn.Module, state: dict, path: Path) -> None:
    """A ConfigError naming ``path`` unless ``state`` has exactly the model's tensor names and shapes."""
    own = model.state_dict()
    bad = [k for k in own if k not in state or getattr(state[k], "shape", None) != own[k].shape]
    if bad or set(state) - set(own):
        first = bad[0] if bad else sorted(set(state) - set(own))[0]
        raise ConfigError(f"{path}: checkpoint of another architecture (first mismatch: '{first}')")


def save_trainer_state(state: dict, path: Path) -> Path:
    """Optimiser, scheduler, epoch, RNG and early-stopping state (tensors and plain values only)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return _write_bytes(path, buffer.getbuffer())


def load_trainer_state(path: Path) -> dict:
    """A trainer state written by :func:`save_trainer_state`; a damaged, truncated or foreign file is a ConfigError."""
    if not path.is_file():
        raise ConfigError(f"{path}: no trainer state to resume from")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # truncated zip, random bytes, a pickle of other objects: torch's messages run for lines
        raise ConfigError(f"{path}: damaged, truncated or not a medattn trainer state; it cannot be resumed") from None
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: not a medattn trainer state (a {type(state).__name__}, not a mapping)")
    for name, kind in TRAINER_STATE.items():
        value = state.get(name)
        if value is None:
            raise ConfigError(f"{path}: trainer state without its '{name}' entry; it cannot be resumed")
        if not isinstance(value, kind if kind is not float else (int, float)) or isinstance(value, bool):
            found = type(value).__name__
            raise ConfigError(f"{path}: trainer state entry '{name}' is a {found}, not a {kind.__name__}")
    if state["epoch"] < 0 or not all(isinstance(row, dict) for row in state["history"]):
        raise ConfigError(f"{path}: trainer state with a negative epoch or malformed history")
    return state


def restore_trainer_state(path: Path, model: nn.Module, optimizer, scheduler, weights: Path) -> dict:
    """Load the trainer state at ``path`` into ``model`` (or from ``weights`` for older runs), the optimiser and the
    schedule; returns the rest (epoch, history, best losses). A state of another model is a ConfigError."""
    state = load_trainer_state(path)
    if "model" in state:
        model_weights = state.pop("model")
        if not isinstance(model_weights, dict):
            raise ConfigError(f"{path}: trainer state entry 'model' is a {type(model_weights).__name__}, not a dict")
        check_architecture(model, model_weights, path)
        model.load_state_dict(model_weights)
    else:  # runs written before the trainer state held the weights
        load_weights(model, weights)
    try:
        optimizer.load_state_dict(state.pop("optimizer"))
        scheduler.load_state_dict(state.pop("scheduler"))
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as exc:
        raise ConfigError(f"{path}: optimiser or schedule state of another setup ({_first_line(exc)})") from None
    return state


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0][:160] if text else type(error).__name__).rstrip(".")
