"""Folder locks: one medattn process at a time in a study folder or a run directory.

A lock is ``fcntl.flock`` on ``FOLDER/.medattn.lock``. The kernel drops it when the holding process ends, however it
ends (``kill -9`` included), so a lock is never stale and there is nothing to clean up by hand. The holder writes
``PID on HOST`` into the file after locking; a second process is refused with a one-line ConfigError that names it.
A process may take a lock it already holds (the in-process study worker trains a run directory and scores it again on
its OOD sets), and forked children (data-loading workers) close their copy, so the lock ends with the process that
took it. Once taken, the temporary files that killed writers left in the folder are removed
(:func:`medattn.io.remove_partial_writes`); sub-folders with a lock of their own are left to their own holder.

Limits: ``flock`` is advisory and per host. Another host does not see it on most network file systems (Linux NFS
emulates it with byte-range locks, SMB and many cluster file systems do not), so two processes on two hosts are not
kept out of one folder: start one study driver per study folder. File systems without lock support (an NFS mount
without ``lockd``) are refused with a one-line error rather than used unlocked.
"""

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from medattn.errors import ConfigError
from medattn.io import remove_partial_writes

LOCK_FILE = ".medattn.lock"
_BUSY_RETRIES = 10  # x 50 ms: a lock held for an instant (another process's holder() look) is waited for
_held: dict[Path, int] = {}  # folder -> descriptor of every lock this process holds


@contextmanager
def hold_folder(folder: str | Path, what: str = "folder") -> Iterator[Path]:
    """Hold ``folder``'s lock for the block (creating the folder); re-entrant within a process.

    A folder this call created is removed again when nothing but the lock was put in it, so a run refused by a
    later check leaves no folder behind.

    Args:
        folder: the study folder or run directory.
        what: what the folder is, for the error message ("run directory", "study folder").

    Raises:
        ConfigError: another process holds the lock (the message names its PID and host), or the folder cannot
            be created or locked.
    """
    key = Path(os.path.realpath(folder))
    if key in _held:
        yield key
        return
    created = _missing_folders(key)
    try:
        descriptor = _lock(key, f"{what} {folder}")
    except BaseException:
        _remove_empty(created)
        raise
    _held[key] = descriptor
    try:
        remove_partial_writes(key, skip_folders_with=LOCK_FILE)
        yield key
    finally:
        del _held[key]
        if created and [entry.name for entry in key.iterdir()] == [LOCK_FILE]:
            (key / LOCK_FILE).unlink()  # while still locked: a process waiting on this file sees it is gone
            _remove_empty(created)
        os.close(descriptor)


def holder(folder: str | Path) -> str | None:
    """``PID N on HOST`` of another live process holding ``folder``'s lock, else None (creates nothing)."""
    key = Path(os.path.realpath(folder))
    if key in _held:
        return None
    try:
        descriptor = os.open(key / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared: conflicts only with a holder's lock
        return None
    except BlockingIOError:
        return _holder_text(key / LOCK_FILE)
    finally:
        os.close(descriptor)  # also releases the shared lock


def _lock(folder: Path, description: str) -> int:
    """An open descriptor of ``folder``'s lock file holding its exclusive lock, with this process's PID in it."""
    path = folder / LOCK_FILE
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise ConfigError(f"cannot lock {description}: {exc.strerror or exc}") from None
        try:
            _flock_soon(descriptor, description, path)
            if _same_file(descriptor, path):
                os.ftruncate(descriptor, 0)
                with contextlib.suppress(OSError):  # a full disk: the holder's name is informational, the lock counts
                    os.pwrite(descriptor, f"PID {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
                return descriptor
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)  # the holder removed the file between our open and lock: lock the new one


def _flock_soon(descriptor: int, description: str, path: Path) -> None:
    for attempt in range(_BUSY_RETRIES + 1):
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt == _BUSY_RETRIES:
                raise ConfigError(
                    f"{description} is in use by another medattn process ({_holder_text(path)}); "
                    "wait for it to finish or stop it"
                ) from None
            time.sleep(0.05)
        except OSError as exc:  # ENOLCK, EOPNOTSUPP: a file system without locks
            raise ConfigError(f"cannot lock {description}: {exc.strerror or exc}") from None


def _holder_text(path: Path) -> str:
    """The holder's ``PID N on HOST`` (it writes it just after locking, so an empty file is read again)."""
    for _ in range(_BUSY_RETRIES):
        try:
            text = path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            text = ""
        if text:
            return " ".join(text.split())
        time.sleep(0.05)
    return "PID unknown"


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (found.st_dev, found.st_ino) == (opened.st_dev, opened.st_ino)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): keep it and its parents
            return


def _close_in_child() -> None:
    """A forked child must not keep its parent's locks alive after the parent ends."""
    for descriptor in _held.values():
        os.close(descriptor)
    _held.clear()


os.register_at_fork(after_in_child=_close_in_child)
