"""The torch Dataset over one prepared split."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

from ..masking import up

if TYPE_CHECKING:
    import albumentations as A


class ImageDataset(Dataset):
    """Images of one prepared split, with optional per-patch masks.

    Yields {"image": uint8 (C, H, W), "index": row, "keep": float (H, W) pixel mask if masks are given}.
    Labels are deliberately not here: the training loop owns them (relabeling changes them, and a change
    made inside a worker process would be lost).
    """

    def __init__(
        self,
        images: np.ndarray,
        transform: A.Compose | None = None,
        patch_masks: np.ndarray | None = None,
        patch_size: int | None = None,
    ):
        if patch_masks is not None and len(patch_masks) != len(images):
            raise ValueError(f"{len(patch_masks)} masks for {len(images)} images")
        self.images = images
        self.transform = transform
        self.patch_masks = patch_masks
        self.patch_size = patch_size
        self.seed = 0

    def __len__(self) -> int:
        return len(self.images)

    def set_seed(self, seed: int) -> None:
        """Seed this epoch's augmentation. Each row's draw follows from (seed, row) alone, so an image gets
        the same augmentation whichever process or DataLoader worker reads it: results do not depend on
        `num_workers` (workers copy the dataset, seed included, at the start of every epoch)."""
        self.seed = seed

    def __getitem__(self, i: int) -> dict:
        image = np.array(self.images[i])  # a private, writable copy of the memory-mapped row
        keep = None
        if self.patch_masks is not None:
            keep = up(np.asarray(self.patch_masks[i], dtype=np.float32), self.patch_size)
        if self.transform is not None:
            # One generator pair shared by all the transforms: 15 us a row, where set_random_seed takes 180.
            rng = np.random.default_rng([self.seed, i])
            self.transform.set_random_state(rng, random.Random(int(rng.integers(2**63))))
            out = self.transform(image=image, mask=keep) if keep is not None else self.transform(image=image)
            image, keep = out["image"], out.get("mask", keep)
        item = {"image": torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1), "index": i}
        if keep is not None:
            item["keep"] = torch.from_numpy(np.ascontiguousarray(keep, dtype=np.float32))
        return item

    def batches(self, batch_size: int):
        """Un-augmented batches in order, sliced straight from the (memory-mapped) arrays: what inference
        reads, with no per-sample Python work. Same dicts as a DataLoader over this dataset yields."""
        if self.transform is not None:
            raise ValueError("batches() is for un-augmented inference; use a DataLoader to augment")
        for start in range(0, len(self), batch_size):
            stop = min(start + batch_size, len(self))
            batch = {
                "image": torch.from_numpy(np.array(self.images[start:stop])).permute(0, 3, 1, 2),
                "index": torch.arange(start, stop),
            }
            if self.patch_masks is not None:
                keep = np.asarray(self.patch_masks[start:stop], dtype=np.float32)
                batch["keep"] = torch.from_numpy(keep)  # per patch: the model expands it in one op
            yield batch
