"""The batched augmentation on the training device: masks move with their images, draws are seeded per batch."""

import numpy as np
import pytest
import torch

from mvt_fer.data.augment import BatchAugment, batch_seed
from mvt_fer.masking import up
from mvt_fer.params import AugmentParams

NONE = AugmentParams(hflip=0.0, shift=0.0, color_jitter=0.0, random_erasing=0.0)


def _images(n=8, size=32):
    return torch.from_numpy(np.random.default_rng(0).random((n, 3, size, size), dtype=np.float32))


def test_nothing_asked_nothing_changed():
    images, keep = _images(), torch.rand(8, 4, 4)
    out, kept = BatchAugment(NONE, 8)(images, keep, 0)
    assert torch.equal(out, images) and torch.equal(kept, keep)


def test_a_flip_flips_the_image_and_its_patch_mask_together():
    images = _images()
    keep = torch.ones(8, 4, 4)
    keep[:, :, 0] = 0  # the left-most patch column erased
    out, kept = BatchAugment(NONE.model_copy(update={"hflip": 1.0}), 8)(images, keep, 3)
    assert torch.equal(out, images.flip(-1))
    assert (kept[:, :, -1] == 0).all() and (kept[:, :, :-1] == 1).all()  # now the right-most column


def test_the_mask_follows_the_shift_and_ignores_colour_jitter_and_erasing():
    # Each image is white exactly where its mask keeps pixels: after shifts and flips they must still agree
    # pixel for pixel (border pixels shifted in are black and erased), and jitter or erasing never touch the mask.
    grid = torch.zeros(16, 4, 4)
    grid[:, 1:3, 1:3] = 1
    grid[::2, 0, 0] = 1  # half the images asymmetric, so that flips show
    white = up(grid, 8)[:, None].repeat(1, 3, 1, 1)
    p = AugmentParams(hflip=0.5, shift=0.2, color_jitter=0.0, random_erasing=0.0)
    out, keep = BatchAugment(p, 8)(white, grid, 7)
    assert keep.shape == (16, 32, 32) and set(keep.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(out.mean(1) > 0.5, keep == 1)
    assert not torch.equal(keep, up(grid, 8))  # something moved
    jitter = p.model_copy(update={"color_jitter": 0.5, "color_jitter_p": 1.0, "random_erasing": 1.0})
    assert torch.equal(BatchAugment(jitter, 8)(white, grid, 7)[1], keep)


def test_colour_jitter_keeps_pixels_in_range_and_leaves_unchosen_images_exactly():
    images = _images(n=64)
    p = NONE.model_copy(update={"color_jitter": 0.4, "color_jitter_p": 0.5})
    out, _ = BatchAugment(p)(images, None, 11)
    same = (out == images).flatten(1).all(1)
    assert 10 < int(same.sum()) < 54  # about half jittered, the others untouched
    assert out.min() >= 0 and out.max() <= 1


def test_random_erasing_fills_one_rectangle_with_noise():
    images = torch.zeros(32, 3, 40, 40)
    out, _ = BatchAugment(NONE.model_copy(update={"random_erasing": 1.0}))(images, None, 5)
    for x in out:
        rows, cols = torch.nonzero(x.amax(0) > 0, as_tuple=True)
        area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert 0.015 * 1600 <= area <= 0.4 * 1600  # one rectangle of 2-33% of the image (rounding aside)
        assert (x.amax(0) > 0).sum() >= 0.95 * area  # filled, not outlined


@pytest.mark.parametrize("p", [AugmentParams(shift=0.1, random_erasing=0.25), AugmentParams()])
def test_same_seed_same_batch_other_seed_other_batch(p):
    images, keep = _images(), torch.rand(8, 4, 4)
    a = BatchAugment(p, 8)(images, keep, batch_seed(5, 0))
    b = BatchAugment(p, 8)(images, keep, batch_seed(5, 0))
    c = BatchAugment(p, 8)(images, keep, batch_seed(5, 1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
