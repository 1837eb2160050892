"""The audit's per-file pass: read each file once, hash its bytes, decode it once, hash its pixels.

Files are decoded with ``read_image``, the same function training uses, so "unreadable" here
means "would fail during training". Any exception is caught and reported for that file: an audit
of a broken dataset must finish and list everything that is wrong.
"""

import io
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np
from PIL import Image

from medattn.data.hashing import perceptual_hash, sha256_bytes
from medattn.data.images import ARRAY_SEPARATOR, read_image
from medattn.data.records import DataError

if TYPE_CHECKING:
    from rich.progress import Progress

# bits per channel of each PIL mode; 16-bit PNGs open as "I;16" (or "I" in older Pillow)
MODE_BITS = {"1": 1, "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16, "I": 32, "F": 32}
EQUAL_CHANNELS_TOLERANCE = 3 / 255  # JPEG chroma noise on a grayscale picture stored as RGB

# what ``progress=`` accepts: a ``progress(done, total)`` callable, a rich Progress, or None
ProgressArg = Union[Callable[[int, int], None], "Progress", None]  # noqa: UP007 (a quoted name)


@dataclass(frozen=True)
class FileFacts:
    """What the per-file pass learned about one file; ``problem`` is set when it is unreadable."""

    path: str
    problem: str | None = None
    sha256: str = ""
    phash: int = 0
    width: int = 0
    height: int = 0
    format: str = "unknown"
    mode: str = "unknown"
    channels: int = 0
    bits: int | None = None
    equal_channels: bool = False
    file_bytes: int = 0
    brightness: float = 0.0
    contrast: float = 0.0
    dark_border: float = 0.0


DARK_LEVEL = 0.1  # grey values below this count as dark (background, scanner border)
BORDER_WIDTH = 0.1  # the border frame is this fraction of each side


def image_statistics(image: np.ndarray) -> dict[str, float]:
    """Mean grey value (brightness), its standard deviation (contrast) and the fraction of dark pixels in the
    outer frame (``BORDER_WIDTH`` of each side; dark = grey < ``DARK_LEVEL``), of a float [H, W, C] image in
    [0, 1]; grey is the mean of the colour channels (an alpha channel is left out)."""
    grey = image[..., : min(3, image.shape[-1])].mean(axis=-1)
    rows, cols = (max(1, round(BORDER_WIDTH * n)) for n in grey.shape)
    frame = np.ones(grey.shape, dtype=bool)
    frame[rows:-rows, cols:-cols] = False
    return {
        "brightness": float(grey.mean()),
        "contrast": float(grey.std()),
        "dark_border": float((grey[frame] < DARK_LEVEL).mean()),
    }


def inspect_file(path: str) -> FileFacts:
    """Hash, decode and describe one file; never raises for a bad file."""
    try:
        return _inspect(path)
    except DataError as exc:
        return FileFacts(path, problem=_without_path(str(exc), path))
    except Exception as exc:  # an audit lists every bad file rather than stopping at the first
        return FileFacts(path, problem=f"cannot decode image ({type(exc).__name__}: {exc})")


def _inspect(path: str) -> FileFacts:
    image = read_image(path)
    if ARRAY_SEPARATOR in path:
        data = np.ascontiguousarray(image).tobytes()
        digest, header = sha256_bytes(data), ("NPZ", "array", None)
    else:
        data = Path(path).read_bytes()
        digest, header = sha256_bytes(data), _header(data, path)
    file_format, mode, bands = header
    channels = image.shape[-1]
    equal = channels == 3 and float(np.ptp(image, axis=-1).max()) <= EQUAL_CHANNELS_TOLERANCE
    return FileFacts(
        path,
        sha256=digest,
        phash=perceptual_hash(image),
        width=image.shape[1],
        height=image.shape[0],
        format=file_format,
        mode=mode,
        channels=bands or channels,
        bits=MODE_BITS.get(mode, 8) if bands else None,
        equal_channels=equal,
        file_bytes=len(data),
        **image_statistics(image),
    )


def _header(data: bytes, path: str) -> tuple[str, str, int | None]:
    """(format, mode, bands) from the file header without decoding pixels; DICOM has no PIL header."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format or "unknown", image.mode, len(image.getbands())
    except Exception:
        return Path(path).suffix.lstrip(".").upper() or "unknown", "unknown", None


def _without_path(message: str, path: str) -> str:
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def default_workers() -> int:
    """Threads for the per-file pass: decoding and hashing release the GIL, reading overlaps I/O."""
    return min(8, (os.cpu_count() or 1) + 1)


def scan_files(paths: Iterable[str], *, workers: int = 0, progress: ProgressArg = None) -> dict[str, FileFacts]:
    """Inspect every distinct path once, in a thread pool.

    Args:
        paths: file paths (duplicates are inspected once).
        workers: threads; 0 picks ``default_workers()``, 1 runs in this thread.
        progress: None, a callable ``progress(done, total)``, or a ``rich.progress.Progress``
            (a task is added and advanced per file).

    Returns:
        Facts per path, in the order the paths were first given.
    """
    unique = list(dict.fromkeys(paths))
    step = _stepper(progress, len(unique))
    workers = workers or default_workers()
    if workers == 1:
        return _collect(map(inspect_file, unique), step)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="audit") as pool:
        return _collect(pool.map(inspect_file, unique), step)


def _collect(results: Iterable[FileFacts], step: Callable[[], None]) -> dict[str, FileFacts]:
    facts = {}
    for fact in results:
        facts[fact.path] = fact
        step()
    return facts


def _stepper(progress: ProgressArg, total: int) -> Callable[[], None]:
    if progress is None:
        return lambda: None
    if hasattr(progress, "add_task"):
        task = progress.add_task("auditing images", total=total)
        return lambda: progress.advance(task)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        progress(done, total)

    return step
