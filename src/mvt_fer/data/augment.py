"""The training augmentation, applied to whole batches on the training device.

The paper's augmentation (horizontal flip, colour jitter, random erasing) plus a small shift, in plain torch
ops over a batch already on the device: the loader's workers only slice uint8 rows and per-patch keep grids
from the memory-mapped stores. At 224 px a CPU worker augmenting image by image (albumentations, numpy)
managed 141 images/s, a seventh of what one H200 trains on; batched here the cost moves to the GPU, where it
is small beside the model. Every draw comes from one generator seeded per (seed, epoch, batch), so a batch
is augmented the same whatever the number of loader workers.

Geometric transforms (flip, shift) move the image and its keep mask together; a shifted-in border is black
in the image and erased in the mask. Colour jitter and erasing touch the image only.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..masking import up
from ..params import AugmentParams

ERASE_AREA = (0.02, 0.33)  # share of the image one erased rectangle covers (Zhong et al.'s defaults)
ERASE_RATIO = (0.3, 3.3)  # its aspect ratio
GRAY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


def batch_seed(seed: int, batch: int) -> int:
    """The seed of one batch's augmentation, from the epoch's seed and the batch's place in the epoch."""
    return int(np.random.SeedSequence([seed, batch]).generate_state(1)[0])


def _gray(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    return (GRAY[0] * r + GRAY[1] * g + GRAY[2] * b).unsqueeze(1)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """factor * x + (1 - factor) * other, clipped to [0, 1]; factor 1 returns x exactly."""
    return (factor * x + (1 - factor) * other).clamp_(0, 1)


def translate(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Each (..., H, W) plane of sample b moved by (dx[b], dy[b]) whole pixels, zeros shifted in."""
    h, w = x.shape[-2:]
    ys = torch.arange(h, device=x.device) - dy[:, None]  # (B, H): source row of each output row
    xs = torch.arange(w, device=x.device) - dx[:, None]
    inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]  # (B, H, W)
    b = torch.arange(len(x), device=x.device)[:, None, None]
    rows, cols = ys.clamp(0, h - 1)[:, :, None], xs.clamp(0, w - 1)[:, None, :]
    if x.dim() == 3:
        return x[b, rows, cols] * inside
    return x[b, :, rows, cols].permute(0, 3, 1, 2) * inside[:, None]  # indexing puts the channels last


class BatchAugment:
    """`augment(images, keep, seed)`: images float (B, 3, H, W) in [0, 1] and the keep mask (per patch
    (B, h, w), or None) -> the augmented images, and the keep mask moved with them (per pixel once shifted)."""

    def __init__(self, p: AugmentParams, patch_size: int | None = None):
        self.p, self.patch_size = p, patch_size

    def __call__(
        self, images: torch.Tensor, keep: torch.Tensor | None, seed: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        p, x, dev = self.p, images, images.device
        g = torch.Generator(device=dev).manual_seed(seed)
        n, _, h, w = x.shape

        def uniform(low: float, high: float) -> torch.Tensor:
            return torch.empty(n, device=dev).uniform_(low, high, generator=g)

        def chosen(prob: float) -> torch.Tensor:
            return torch.rand(n, device=dev, generator=g) < prob

        if p.hflip > 0:
            flip = chosen(p.hflip)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            if keep is not None:
                keep = torch.where(flip[:, None, None], keep.flip(-1), keep)
        if p.shift > 0:
            dx = torch.round(uniform(-p.shift, p.shift) * w).long()
            dy = torch.round(uniform(-p.shift, p.shift) * h).long()
            x = translate(x, dx, dy)
            if keep is not None:
                keep = translate(up(keep, self.patch_size) if keep.shape[-2:] != (h, w) else keep, dx, dy)
        if p.color_jitter > 0 and p.color_jitter_p > 0:
            j, on = p.color_jitter, chosen(p.color_jitter_p)[:, None, None, None]

            def factor() -> torch.Tensor:  # 1 where the image is not jittered: those stay exactly as they are
                return torch.where(on, uniform(max(0.0, 1 - j), 1 + j)[:, None, None, None], 1.0)

            x = (x * factor()).clamp_(0, 1)  # brightness
            x = _blend(x, _gray(x).mean((-2, -1), keepdim=True), factor())  # contrast
            x = _blend(x, _gray(x), factor())  # saturation
        if p.random_erasing > 0:
            erase = chosen(p.random_erasing)
            area = uniform(*ERASE_AREA) * h * w
            ratio = torch.exp(uniform(math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1])))
            eh = torch.sqrt(area * ratio).round().clamp(1, h)
            ew = torch.sqrt(area / ratio).round().clamp(1, w)
            top = (uniform(0, 1) * (h - eh + 1)).floor()
            left = (uniform(0, 1) * (w - ew + 1)).floor()
            ys = torch.arange(h, device=dev)[None, :, None]
            xs = torch.arange(w, device=dev)[None, None, :]
            box = (ys >= top[:, None, None]) & (ys < (top + eh)[:, None, None])
            box = box & (xs >= left[:, None, None]) & (xs < (left + ew)[:, None, None]) & erase[:, None, None]
            # Random noise in the rectangle (as albumentations' fill="random_uniform"); drawn whether or not a
            # sample erases, so that nothing waits on the device to ask.
            x = torch.where(box[:, None], torch.rand(x.shape, device=dev, generator=g), x)
        return x, keep
