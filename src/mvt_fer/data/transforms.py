"""Training augmentation, built with albumentations."""

from __future__ import annotations

import albumentations as A
import cv2

from ..params import AugmentParams


def train_transform(p: AugmentParams) -> A.Compose:
    """The paper's augmentation (random erasing, horizontal flip, colour jitter) plus a small shift.

    Geometric transforms move the image and its pixel mask together (albumentations' `mask` target);
    colour jitter and erasing touch the image only.
    """
    j = p.color_jitter
    return A.Compose(
        [
            A.HorizontalFlip(p=p.hflip),
            A.Affine(
                translate_percent=(-p.shift, p.shift),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
                p=1.0 if p.shift > 0 else 0.0,
            ),
            A.ColorJitter(brightness=j, contrast=j, saturation=j, hue=0.0, p=p.color_jitter_p if j > 0 else 0.0),
            A.Erasing(fill="random_uniform", p=p.random_erasing),
        ]
    )
