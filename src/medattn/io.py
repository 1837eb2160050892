"""Atomic file writes: a result file is either complete or absent, never half-written."""

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from medattn.errors import ConfigError

_UMASK = os.umask(0o022)  # read once at import (os.umask can only be read by setting it) and put back
os.umask(_UMASK)
# write_atomic's temporary names: "." + the file's name + "." + mkstemp's 8 random characters + ".tmp"
_PARTIAL_WRITE = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")
NAME_RULE = "one path component of 1-100 letters, digits, '.', '_' or '-', not starting with '.' or '-'"


def name_problem(name) -> str | None:
    """Why a user-given ``name`` cannot become (part of) a file name, or None: it must match ``NAME_RULE``, so it
    can neither leave its folder (``/``, ``..``), hide (``.x``), read as an option (``-x``) nor be cut by the file
    system."""
    if isinstance(name, str) and _SAFE_NAME.fullmatch(name):
        return None
    return f"a name must be {NAME_RULE}"


def check_file_name(name: str, what: str) -> str:
    """``name`` if it can become a file name (:func:`name_problem`), else a one-line ConfigError naming ``what``."""
    problem = name_problem(name)
    if problem:
        raise ConfigError(f"{what} {name!r}: {problem}")
    return name


def write_atomic(path: str | Path, write: Callable[[str], None]) -> Path:
    """Let ``write(tmp)`` fill a temporary file beside ``path``, fsync it, then rename it into place.

    An error (disk full) at any moment leaves the previous ``path`` untouched and no temporary file behind; a
    crash (``kill -9``) leaves the previous ``path`` and a ``.NAME.*.tmp`` file that :func:`remove_partial_writes`
    deletes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:  # read-only or full: name the file, not mkstemp's random name
        raise OSError(error.errno, error.strerror or str(error), str(path)) from error
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are shared like any other file
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        if error.filename in (None, tmp):  # a failed write() names no file: name the one being written
            raise OSError(error.errno, error.strerror or str(error), str(path)) from error
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_partial_writes(folder: str | Path, *, skip_folders_with: str | None = None) -> list[Path]:
    """Delete the temporary files of :func:`write_atomic` calls that a crash cut short, in ``folder`` and below.

    Only call it while no other process writes there (holding the folder's lock, :mod:`medattn.locks`).

    Args:
        folder: the folder to clean.
        skip_folders_with: a sub-folder holding a file of this name (another lock's folder) is left alone.

    Returns:
        The removed files.
    """
    removed = []
    for root, folders, files in os.walk(folder):
        if skip_folders_with:
            folders[:] = [name for name in folders if not os.path.exists(os.path.join(root, name, skip_folders_with))]
        for name in files:
            if _PARTIAL_WRITE.fullmatch(name):
                removed.append(Path(root, name))
                removed[-1].unlink(missing_ok=True)
    return removed


def write_text_atomic(path: str | Path, text: str) -> Path:
    if not isinstance(text, str):
        raise TypeError(f"expected text, got {type(text).__name__}")
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | Path, data) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
