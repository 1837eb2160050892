"""A torch Dataset over the decoded cache: no decoding, no resizing, in the training loop."""

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from medattn.data.cache import DecodedCache
from medattn.data.records import Record


class CachedImageDataset(Dataset):
    """Rows ``indices`` of a decoded cache, transformed.

    Items are ``(image, label)``, or ``(image, label, mask)`` with ``with_masks``; the image is the
    transform's output (float [3, S, S]) and the mask a uint8 [1, S, S] that followed every geometric
    transform of the image. Rows that failed to decode must not be in ``indices``
    (``usable_indices`` gives the valid rows of a split).
    """

    def __init__(
        self,
        cache: DecodedCache,
        records: Sequence[Record],
        indices: Sequence[int],
        transform,
        *,
        with_masks: bool = False,
    ):
        self.cache = cache
        self.indices = np.asarray(indices, dtype=np.int64)
        self.labels = torch.tensor([records[i].label for i in self.indices], dtype=torch.long)
        self.transform = transform
        self.with_masks = with_masks and cache.masks is not None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int):
        row = int(self.indices[item])
        pixels = torch.from_numpy(np.array(self.cache.images[row])).permute(2, 0, 1)
        if self.cache.grayscale:
            pixels = pixels[:1]
        image = tv_tensors.Image(pixels)
        if not self.with_masks:
            return self.transform(image), self.labels[item]
        mask = tv_tensors.Mask(torch.from_numpy(np.array(self.cache.masks[row]))[None])
        image, mask = self.transform(image, mask)
        return image, self.labels[item], mask


def usable_indices(records: Sequence[Record], cache: DecodedCache, split: str | None) -> list[int]:
    """Indices of the records in ``split`` (all when None) whose image decoded."""
    return [i for i, r in enumerate(records) if (split is None or r.split == split) and cache.valid[i]]
