"""Content hashes for the dataset audit: sha256 of file bytes and a 64-bit perceptual hash.

The perceptual hash is the DCT hash ("pHash") of Zauner (2010), *Implementation and benchmarking
of perceptual image hash functions*, in the variant of the ``imagehash`` package: grayscale,
resize to 32x32, 2-D DCT-II, keep the 8x8 lowest frequencies, one bit per coefficient above
their median. Deviations: the grayscale image is the decoded float image (ITU-R 601 luma for
RGB, as PIL's ``convert("L")``) rather than an 8-bit one, so 16-bit images keep their precision;
the resize is PIL's Lanczos filter on that float image, as ``imagehash``.

Because a uniform brightness change only moves the DC coefficient, which is always the largest,
brightened or re-encoded copies keep (almost) the same hash.
"""

import hashlib

import numpy as np
from PIL import Image

HASH_SIDE = 8  # 8x8 low-frequency coefficients -> 64 bits
DCT_SIDE = 32
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_BLOCK = 2048  # hashes compared per tile side: a tile is 4M pairs (32 MB of XORs)


def _dct_matrix(n: int) -> np.ndarray:
    """The (unnormalised) DCT-II basis: ``M @ x`` is the DCT of ``x`` along its first axis."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    return np.cos(np.pi * (2 * i + 1) * k / (2 * n))


_DCT = _dct_matrix(DCT_SIDE)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def to_gray(image: np.ndarray) -> np.ndarray:
    """Float [H, W] luma of a float [H, W, C] image (C = 1 or 3)."""
    if image.ndim == 2:
        return image.astype(np.float32, copy=False)
    if image.shape[-1] == 1:
        return image[..., 0].astype(np.float32, copy=False)
    return (image[..., :3] @ LUMA).astype(np.float32, copy=False)


def perceptual_hash(image: np.ndarray) -> int:
    """64-bit DCT perceptual hash of a decoded image (float [H, W, C] or [H, W]).

    Args:
        image: the decoded image, as ``read_image`` returns it.

    Returns:
        The hash as an unsigned 64-bit integer; bit 63 is coefficient (0, 0), row-major.
    """
    gray = Image.fromarray(np.ascontiguousarray(to_gray(image)))
    small = np.asarray(gray.resize((DCT_SIDE, DCT_SIDE), Image.Resampling.BOX), dtype=np.float64)
    low = (_DCT @ small @ _DCT.T)[:HASH_SIDE, :HASH_SIDE]
    bits = (low > np.median(low)).reshape(-1)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def popcount(values: np.ndarray) -> np.ndarray:
    """Number of set bits of each uint64 in ``values`` (same shape, uint8)."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(values)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    as_bytes = values.view(np.uint8).reshape(*values.shape, 8)
    return table[as_bytes].sum(axis=-1, dtype=np.uint8)


def near_pairs(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` whose hashes differ in at most ``max_distance`` bits.

    The comparison is vectorised over tiles of the upper triangle, so memory stays bounded
    (about 40 MB) and the Python loop runs ``(n / 2048)^2 / 2`` times.

    Args:
        hashes: uint64 array of n hashes.
        max_distance: the largest Hamming distance that counts as near.

    Returns:
        Index arrays ``(i, j, distance)`` of the matching pairs.
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    found_i, found_j, found_d = [], [], []
    for row in range(0, len(hashes), _BLOCK):
        rows = hashes[row : row + _BLOCK]
        for col in range(row, len(hashes), _BLOCK):
            distance = popcount(rows[:, None] ^ hashes[None, col : col + _BLOCK])
            i, j = np.nonzero(distance <= max_distance)
            keep = i + row < j + col
            found_i.append(i[keep] + row)
            found_j.append(j[keep] + col)
            found_d.append(distance[i[keep], j[keep]])
    if not found_i:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.uint8)
    return np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_d)


def connected_groups(count: int, first: np.ndarray, second: np.ndarray) -> list[list[int]]:
    """Connected components (of two or more members) of the graph with ``count`` nodes and the
    given edges, each sorted, ordered by their first member (union-find, one pass over edges)."""
    parent = list(range(count))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in zip(first.tolist(), second.tolist(), strict=True):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    for node in range(count):
        members.setdefault(root(node), []).append(node)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])
