"""Files for the robustness tests: tiny image folders, broken PNGs, manifests, masks."""

import csv
import struct
import zlib

import numpy as np

from .conftest import write_image

SIDE = 32


def image_file(path, seed=0, side=SIDE):
    return write_image(path, np.random.default_rng(seed).integers(0, 256, (side, side), dtype=np.uint8))


def folder_dataset(root, per_class=6):
    for c, name in enumerate("ab"):
        for i in range(per_class):
            image_file(root / name / f"{i}.png", seed=100 * c + i)
    return root


def truncated_png(path):
    data = image_file(path, seed=999).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def bomb_png(path, side=100_000):
    """A tiny PNG whose header claims side x side pixels (a decompression bomb)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def write_manifest(path, rows, columns=("path", "label")):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def masked_manifest(root, bad_mask=True):
    """Six images with masks; with ``bad_mask`` the first mask is 16x16 for a 32x32 image."""
    rows = []
    for i in range(6):
        image_file(root / "img" / f"{i}.png", seed=i)
        side = 16 if bad_mask and i == 0 else SIDE
        write_image(root / "mask" / f"{i}.png", np.full((side, side), 255, dtype=np.uint8))
        rows.append((f"img/{i}.png", "ab"[i % 2], f"mask/{i}.png"))
    return write_manifest(root / "m.csv", rows, ("path", "label", "mask"))
