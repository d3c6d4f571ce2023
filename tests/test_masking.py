import numpy as np
import pytest
import torch

from mvt_fer.masking import (
    MaskReading,
    apply_mask,
    discriminator_view,
    inference_keep,
    keep_grid,
    oracle_patch_mask,
    random_patch_mask,
    sample_mask,
    straight_through_top_k,
    top_k_mask,
    up,
)


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_up_maps_each_patch_to_exactly_its_pixels(lib):
    h, w, p = 3, 4, 5
    values = np.arange(h * w, dtype=np.float32).reshape(1, h, w)
    mask = up(values if lib == "numpy" else torch.from_numpy(values), p)
    mask = np.asarray(mask)
    assert mask.shape == (1, h * p, w * p)
    for i in range(h):
        for j in range(w):
            block = mask[0, i * p : (i + 1) * p, j * p : (j + 1) * p]
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


def test_random_patch_mask_has_exactly_the_ratio():
    r = random_patch_mask(50, 36, 0.15, torch.Generator().manual_seed(0))
    assert r.shape == (50, 36) and set(r.unique().tolist()) <= {0.0, 1.0}
    assert (r.sum(-1) == round(0.15 * 36)).all()
    assert not torch.equal(r[0], r[1])  # placed at random


def test_views_show_and_hide():
    images = torch.ones(1, 3, 8, 8)
    mask = torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # patch (0, 0)
    shown = discriminator_view(images, mask, "show", 4, (2, 2))
    hidden = discriminator_view(images, mask, "hide", 4, (2, 2))
    assert shown[..., :4, :4].eq(1).all() and shown.sum() == 3 * 16
    assert hidden[..., :4, :4].eq(0).all() and hidden.sum() == 3 * 48


def test_inference_keep_modes():
    mp = torch.tensor([[0.9, 0.1, 0.5, 0.2]])
    assert torch.allclose(inference_keep(mp, "show", 0.25), 1 - mp)  # the paper's complement
    assert inference_keep(mp, "show", 0.25, hard=True).tolist() == [[0.0, 1.0, 1.0, 1.0]]  # highest Mp erased
    assert inference_keep(mp, "hide", 0.5).tolist() == [[1.0, 0.0, 1.0, 0.0]]  # lowest Mp erased


def test_straight_through_is_hard_forward_soft_backward():
    mp = torch.tensor([[0.9, 0.1, 0.5, 0.2]], requires_grad=True)
    st = straight_through_top_k(mp, 2)
    assert st.tolist() == top_k_mask(mp.detach(), 2).tolist() == [[1.0, 0.0, 1.0, 0.0]]
    (st * torch.tensor([[1.0, 2.0, 3.0, 4.0]])).sum().backward()
    assert mp.grad.tolist() == [[1.0, 2.0, 3.0, 4.0]]


def test_keep_grid_on_hand_made_grids():
    # Two images, 2 x 2 patches each, as the masks store holds them (float16); m = 0.25 erases 1 patch.
    mp = np.array([[[0.9, 0.1], [0.5, 0.2]], [[0.1, 0.3], [0.8, 0.6]]], np.float16)
    soft = keep_grid(mp, "show", 0.25)
    assert soft.dtype == np.float32 and np.allclose(soft, 1 - mp.astype(np.float32))  # the paper's 1 - Mp
    assert keep_grid(mp, "show", 0.25, hard=True).tolist() == [[[0, 1], [1, 1]], [[1, 1], [0, 1]]]  # highest Mp
    assert keep_grid(mp, "hide", 0.25).tolist() == [[[1, 0], [1, 1]], [[0, 1], [1, 1]]]  # lowest Mp
    assert keep_grid(mp, "show", 0.5, hard=True).tolist() == [[[0, 1], [0, 1]], [[1, 1], [0, 0]]]


def test_sample_mask_is_a_seeded_binary_draw_at_rate_mp():
    mp = torch.tensor([[0.0, 0.2, 0.9, 1.0]]).expand(20000, 4)
    a = sample_mask(mp, torch.Generator().manual_seed(3))
    b = sample_mask(mp, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}
    assert a.mean(0).tolist() == pytest.approx([0.0, 0.2, 0.9, 1.0], abs=0.01)


def test_oracle_mask_erases_the_patches_with_the_least_face():
    # One 4 x 4 image of 2 x 2 patches: face share per patch 1, 0.5, 0.25, 0 (row-major).
    face = np.zeros((1, 4, 4), np.uint8)
    face[0, :2, :2] = 1
    face[0, :2, 2] = 1
    face[0, 2, 0] = 1
    assert oracle_patch_mask(face, 2, 0.25).tolist() == [[[0, 0], [0, 1]]]
    assert oracle_patch_mask(face, 2, 0.5).tolist() == [[[0, 0], [1, 1]]]
    assert oracle_patch_mask(np.ones((2, 4, 4)), 2, 0.5).tolist() == [[[1, 1], [0, 0]]] * 2  # ties: row-major


def test_among_patches_without_face_the_oracle_erases_those_nearest_the_face_first():
    # A 6 x 6 face (pixels = patches) with a two-patch hole at its middle, as an occluder over the mouth
    # leaves: the hole goes before the background ring, which has no face either.
    face = np.zeros((1, 6, 6), np.uint8)
    face[0, 1:5, 1:5] = 1
    face[0, 3, 2:4] = 0
    erased = oracle_patch_mask(face, 1, 2 / 36)[0]
    assert erased.sum() == 2 and erased[3, 2:4].all()
    # A bigger budget takes the hole, then the background next to the face's centre before the corners.
    erased = oracle_patch_mask(face, 1, 6 / 36)[0]
    assert erased[3, 2:4].all() and not erased[[0, 0, 5, 5], [0, 5, 0, 5]].any()


def test_a_mask_reading_round_trips_its_meta_and_reads_both_forms_alike():
    reading = MaskReading("show", 0.25, hard=True)
    assert MaskReading.from_meta(reading.as_meta()) == reading
    assert reading.as_meta() == {"view": "show", "mask_ratio": 0.25, "hard": True}  # the stored format
    mp = np.random.default_rng(0).random((3, 2, 2)).astype(np.float32)
    grid = reading.keep_grid(mp)
    assert np.array_equal(grid, reading.keep(torch.from_numpy(mp).reshape(3, 4)).reshape(3, 2, 2).numpy())
    assert (grid == 0).sum(axis=(1, 2)).tolist() == [1, 1, 1]  # round(0.25 * 4) erased per image
