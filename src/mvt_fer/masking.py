"""Patch masks and pixel masks: `up()` and applying a mask to an image (paper Sec. 3.1).

Pure array functions: numpy in the data pipeline, torch in the models, the same semantics in both.
A mask value is the share of a pixel that stays visible (1 = keep, 0 = erase to black).
"""

from __future__ import annotations

import numpy as np
import torch


def up(patch_mask, patch_size: int):
    """Copy each patch value to its P x P pixels (the paper's Mp -> Mf, Sec. 3.1).

    `patch_mask` has shape (..., h, w), numpy or torch; the result has shape (..., h*P, w*P), with
    pixel (y, x) taking the value of patch (y // P, x // P). Channels broadcast, so no copy over C.
    """
    if isinstance(patch_mask, np.ndarray):
        return np.repeat(np.repeat(patch_mask, patch_size, axis=-2), patch_size, axis=-1)
    return patch_mask.repeat_interleave(patch_size, dim=-2).repeat_interleave(patch_size, dim=-1)


def as_grid(patch_mask: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, N) per-token values -> (B, h, w), in timm's row-major patch order."""
    return patch_mask.reshape(patch_mask.shape[0], *grid)


def apply_mask(images: torch.Tensor, keep: torch.Tensor, patch_size: int) -> torch.Tensor:
    """`images ⊙ up(keep)` for images (B, C, H, W).

    `keep` is either per patch, (B, h, w), or already per pixel, (B, H, W) or (B, 1, H, W) (the form a
    mask takes after geometric augmentation).
    """
    if keep.dim() == 4:
        keep = keep[:, 0]
    if keep.shape[-2:] != images.shape[-2:]:
        keep = up(keep, patch_size)
    return images * keep.unsqueeze(1).to(images.dtype)
