"""Decoded-image cache: decode and resize every file once into an on-disk uint8 memmap.

A cache is keyed by the ordered list of files and the target size, and lives in its own folder
(``index.json``, ``images.u8`` [N, S, S, 3], ``masks.u8`` [N, S, S]). Each row remembers its file's
size, modification time and content hash: on opening, a file whose stat changed is re-hashed and,
if its content changed, decoded again. Files that cannot be decoded are marked invalid with their
one-line problem, never raised mid-epoch. The data files' disk space is reserved before they are
mapped, so a full disk is a one-line DataError naming the folder, not a SIGBUS. Concurrent builders
(several runs of a study) take a file lock, so the work is done once and shared.
"""

import errno
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from medattn.data.images import ARRAY_SEPARATOR, read_image, read_mask
from medattn.data.records import DataError, Record, os_problem
from medattn.io import write_json_atomic

INDEX_VERSION = 1


def default_cache_root() -> Path:
    """``$MEDATTN_CACHE`` or ``~/.cache/medattn/decoded``."""
    return Path(os.environ.get("MEDATTN_CACHE", Path.home() / ".cache" / "medattn" / "decoded"))


def _file_of(path: str) -> Path:
    return Path(path.split(ARRAY_SEPARATOR, 1)[0])


def _stat(path: str) -> list[int] | None:
    try:
        st = _file_of(path).stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def content_hash(path: str) -> str | None:
    """sha256 of the file's bytes (array entries: of the entry's pixels), None if unreadable."""
    digest = hashlib.sha256()
    if ARRAY_SEPARATOR in path:
        try:
            digest.update(np.ascontiguousarray(read_image(path)).tobytes())
        except DataError:
            return None
        return digest.hexdigest()
    try:
        with _file_of(path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def decode_row(path: str, mask: str | None, size: int) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """Decode one image (and mask) resized to size x size: (image uint8 [S,S,3], mask, problem)."""
    try:
        image = read_image(path)
        mask_array = read_mask(mask, image.shape[:2]) if mask else None
    except DataError as exc:
        return None, None, str(exc)
    pixels = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    pil = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    resized = np.asarray(pil.resize((size, size), Image.BILINEAR, reducing_gap=3.0))
    if resized.ndim == 2:
        resized = np.repeat(resized[..., None], 3, axis=-1)
    if mask_array is not None:
        mask_array = np.asarray(Image.fromarray(mask_array).resize((size, size), Image.NEAREST))
    return resized, mask_array, None


def _decode_job(job: tuple) -> tuple:
    return (job[0], *decode_row(*job[1:]))


@dataclass
class DecodedCache:
    """Images (and masks) of ``records`` at ``size`` x ``size``, decoded once.

    Attributes:
        directory: the cache folder.
        images: memmap [N, S, S, 3] uint8 (grayscale stored as three equal channels).
        masks: memmap [N, S, S] uint8 (0/1), or None when no record has a mask.
        valid: which rows decoded successfully.
        hashes: sha256 of each row's file content (None when unreadable); equal hashes are exact
            duplicates.
        problems: one line per row that did not.
        grayscale: every valid image was single-channel.
    """

    directory: Path
    images: np.ndarray
    masks: np.ndarray | None
    valid: np.ndarray
    hashes: list[str | None]
    problems: list[str]
    grayscale: bool


def cache_key(records: Sequence[Record], size: int) -> str:
    digest = hashlib.sha256(f"v{INDEX_VERSION}:{size}".encode())
    for r in records:
        digest.update(f"\0{r.path}\0{r.mask or ''}".encode())
    return digest.hexdigest()[:24]


@contextmanager
def _locked(directory: Path):
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_cache(
    records: Sequence[Record],
    size: int,
    *,
    root: Path | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> DecodedCache:
    """Open (building or refreshing as needed) the cache of ``records`` at ``size``.

    Args:
        records: the images, in the order rows should have.
        size: square side in pixels.
        root: folder holding caches (default ``default_cache_root()``).
        workers: decoding processes (1 decodes in this process).
        progress: called as ``progress(done, total)`` while decoding.
    """
    directory = (root or default_cache_root()) / cache_key(records, size)
    shapes = {"images.u8": (len(records), size, size, 3)}
    if any(r.mask for r in records):
        shapes["masks.u8"] = (len(records), size, size)
    try:
        with _locked(directory):
            created = [_reserve_file(directory / name, int(np.prod(shape))) for name, shape in shapes.items()]
            index = _read_index(directory, len(records), size, trusted=not any(created))
            stale = _stale_rows(records, index)
            images = _map(directory / "images.u8", shapes["images.u8"])
            masks = _map(directory / "masks.u8", shapes["masks.u8"]) if "masks.u8" in shapes else None
            if stale:
                _decode_rows(records, stale, size, images, masks, index, workers, progress)
                images.flush()
                if masks is not None:
                    masks.flush()
            write_json_atomic(directory / "index.json", index)  # also records re-checked file stats
    except OSError as exc:
        raise _cache_error(directory, exc, sum(int(np.prod(shape)) for shape in shapes.values())) from None
    rows = index["rows"]
    valid = np.array([row["problem"] is None for row in rows], dtype=bool)
    problems = [row["problem"] for row in rows if row["problem"]]
    grayscale = all(row["grayscale"] for row in rows if row["problem"] is None)
    hashes = [row["hash"][0] for row in rows]
    return DecodedCache(directory, images, masks, valid, hashes, problems, grayscale)


def _reserve_file(path: Path, size: int) -> bool:
    """Make ``path`` a file of ``size`` bytes with its disk space reserved; True when it was (re)created.

    A sparse file (what ``np.memmap(mode="w+")`` creates) gets its blocks only when a page is
    written through the mapping; on a full disk that write is a SIGBUS that kills the process
    without a message. Reserving every block first turns a full disk into an OSError here.
    """
    kept = path.exists() and path.stat().st_size == size
    if not kept:
        path.unlink(missing_ok=True)  # another layout, or a file cut short: start over
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _reserve(descriptor, size)
    except OSError:
        if not kept:
            path.unlink(missing_ok=True)  # give back what was allocated
        raise
    finally:
        os.close(descriptor)
    return not kept


def _map(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    return np.memmap(path, dtype=np.uint8, mode="r+", shape=shape)


def _reserve(descriptor: int, size: int) -> None:
    """Allocate ``size`` bytes of disk for the open file (zeros where nothing was written yet)."""
    if size == 0:
        return
    if hasattr(os, "posix_fallocate"):  # glibc writes zeros itself where the file system cannot allocate
        os.posix_fallocate(descriptor, 0, size)
        return
    current = os.fstat(descriptor).st_size  # no posix_fallocate (macOS): write the zeros
    block = bytes(1 << 20)
    os.lseek(descriptor, current, os.SEEK_SET)
    for start in range(current, size, len(block)):
        os.write(descriptor, block[: min(len(block), size - start)])


def _cache_error(directory: Path, exc: OSError, needed: int) -> DataError:
    """A one-line error for a cache that cannot be written, naming the folder and what it needs."""
    if exc.errno == errno.ENOSPC:
        problem = f"not enough disk space for the decoded cache ({needed:,} bytes needed)"
    else:
        problem = f"cannot write the decoded cache ({os_problem(exc)})"
    return DataError(f"{directory}: {problem}; set $MEDATTN_CACHE to a folder with room to spare")


def _read_index(directory: Path, count: int, size: int, *, trusted: bool = True) -> dict:
    """The index of a cache folder; a fresh one (every row to decode) when it does not fit or
    its data files were just created (``trusted=False``)."""
    try:
        index = json.loads((directory / "index.json").read_text())
        if trusted and index["version"] == INDEX_VERSION and index["size"] == size and len(index["rows"]) == count:
            return index
    except (OSError, ValueError, KeyError):
        pass
    empty = {"stat": None, "hash": None, "problem": "not decoded", "grayscale": False}
    return {"version": INDEX_VERSION, "size": size, "rows": [dict(empty) for _ in range(count)]}


def _stale_rows(records: Sequence[Record], index: dict) -> list[int]:
    """Rows whose image or mask file changed (by stat, then by content) or were never decoded."""
    stale = []
    for i, (record, row) in enumerate(zip(records, index["rows"], strict=True)):
        stat = [_stat(record.path), _stat(record.mask) if record.mask else None]
        if row["problem"] == "not decoded" or row["stat"] != stat:
            hashes = [content_hash(record.path), content_hash(record.mask) if record.mask else None]
            if row["problem"] == "not decoded" or row["hash"] != hashes or hashes[0] is None:
                stale.append(i)
            row["stat"], row["hash"] = stat, hashes
    return stale


def _decode_rows(records, rows, size, images, masks, index, workers, progress) -> None:
    jobs = [(i, records[i].path, records[i].mask, size) for i in rows]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = pool.map(_decode_job, jobs, chunksize=16)
            _store(results, images, masks, index, len(jobs), progress)
    else:
        _store(map(_decode_job, jobs), images, masks, index, len(jobs), progress)


def _store(results, images, masks, index, total, progress) -> None:
    for done, (i, image, mask, problem) in enumerate(results, start=1):
        row = index["rows"][i]
        row["problem"] = problem
        if image is not None:
            images[i] = image
            row["grayscale"] = bool((image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all())
            if masks is not None:
                masks[i] = mask if mask is not None else 0
        if progress:
            progress(done, total)
