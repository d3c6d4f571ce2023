"""The torch Dataset over one prepared split."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class ImageDataset(Dataset):
    """Images of one prepared split, with optional per-patch keep masks.

    `dataset[i]` is one row and `dataset[[i, j, ...]]` a batch (what the training loader asks for: one
    fancy-indexed read per batch, no per-sample Python work): {"image": uint8 (..., 3, H, W), "index",
    "keep": float (..., h, w) per patch, if masks are given}. Augmentation happens later, batched on the
    training device (data/augment.py). Labels are deliberately not here: the training loop owns them
    (relabeling changes them, and a change made inside a worker process would be lost).
    """

    def __init__(self, images: np.ndarray, patch_masks: np.ndarray | None = None):
        if patch_masks is not None and len(patch_masks) != len(images):
            raise ValueError(f"{len(patch_masks)} masks for {len(images)} images")
        self.images = images
        self.patch_masks = patch_masks

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int | list[int]) -> dict:
        rows = np.asarray(index)
        image = torch.from_numpy(np.ascontiguousarray(self.images[rows]))  # a copy of the memory-mapped rows
        item = {"image": image.movedim(-1, -3), "index": torch.as_tensor(rows)}
        if self.patch_masks is not None:
            item["keep"] = torch.from_numpy(np.asarray(self.patch_masks[rows], dtype=np.float32))
        return item

    def batches(self, batch_size: int):
        """Batches in order, sliced straight from the (memory-mapped) arrays: what inference reads."""
        for start in range(0, len(self), batch_size):
            yield self[range(start, min(start + batch_size, len(self)))]
