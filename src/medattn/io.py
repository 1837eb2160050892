"""Atomic file writes: a result file is either complete or absent, never half-written."""

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

_UMASK = os.umask(0o022)  # read once at import (os.umask can only be read by setting it) and put back
os.umask(_UMASK)


def write_atomic(path: str | Path, write: Callable[[str], None]) -> Path:
    """Let ``write(tmp)`` fill a temporary file beside ``path``, fsync it, then rename it into place.

    A crash or error (disk full) at any moment leaves the previous ``path`` untouched and no
    temporary file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are shared like any other file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    if not isinstance(text, str):
        raise TypeError(f"expected text, got {type(text).__name__}")
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | Path, data) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
