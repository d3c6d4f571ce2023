import numpy as np
import pytest
import torch

from mvt_fer.masking import apply_mask, up


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_up_maps_each_patch_to_exactly_its_pixels(lib):
    h, w, p = 3, 4, 5
    values = np.arange(h * w, dtype=np.float32).reshape(1, h, w)
    mask = up(values if lib == "numpy" else torch.from_numpy(values), p)
    mask = np.asarray(mask)
    assert mask.shape == (1, h * p, w * p)
    for i in range(h):
        for j in range(w):
            block = mask[0, i * p:(i + 1) * p, j * p:(j + 1) * p]
            assert (block == values[0, i, j]).all()
            # and no other pixel carries that value (values are distinct)
            assert (mask == values[0, i, j]).sum() == p * p


def test_apply_mask_patch_and_pixel_forms_agree():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 16, 16, generator=g)
    keep = (torch.rand(2, 4, 4, generator=g) > 0.5).float()
    by_patch = apply_mask(images, keep, 4)
    by_pixel = apply_mask(images, up(keep, 4).unsqueeze(1), 4)
    assert torch.equal(by_patch, by_pixel)
    # erased patches are black, kept ones untouched
    erased = up(keep, 4).unsqueeze(1).expand_as(images) == 0
    assert (by_patch[erased] == 0).all()
    assert torch.equal(by_patch[~erased], images[~erased])
