"""Batched inference over a dataset: probabilities in dataset order, flip test-time augmentation, and the
post-hoc prior correction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mvt_fer.data.dataset import ImageDataset
from mvt_fer.engine.inference import predict, prior_adjusted, tta_views
from mvt_fer.masking import up
from mvt_fer.models import create_classifier
from mvt_fer.params import ModelParams

MODEL = ModelParams(patch_size=8, embed_dim=32, depth=2, num_heads=2, stem="patch")
CPU = torch.device("cpu")


def _data(n=10):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (n, 16, 16, 3), dtype=np.uint8)
    keep = rng.random((n, 2, 2)).astype(np.float32)
    keep[:, :, 0] = 0  # the left column erased: a mirrored image must have its mask mirrored too
    return images, keep


def test_predict_is_probabilities_in_dataset_order():
    torch.manual_seed(0)
    model = create_classifier(MODEL, 3, 16).eval()
    images, keep = _data()
    probs = predict(model, ImageDataset(images, keep), 4, dev=CPU)
    assert probs.shape == (10, 3) and probs.dtype == np.float32 and np.allclose(probs.sum(1), 1, atol=1e-5)
    x = torch.from_numpy(images[7:8]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        direct = model(x, torch.from_numpy(keep[7:8])).softmax(-1)
    assert np.allclose(probs[7], direct.numpy(), atol=1e-5)


def test_flip_tta_averages_the_image_and_its_mirror_with_the_mask_mirrored():
    torch.manual_seed(0)
    model = create_classifier(MODEL, 3, 16).eval()
    images, keep = _data()
    tta = predict(model, ImageDataset(images, keep), 4, dev=CPU, tta=True)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    k = torch.from_numpy(keep)
    with torch.no_grad():
        plain, mirrored = model(x, k).softmax(-1), model(x.flip(-1), k.flip(-1)).softmax(-1)
        unmirrored_mask = model(x.flip(-1), k).softmax(-1)
    assert tta == pytest.approx(((plain + mirrored) / 2).numpy(), abs=1e-5)
    assert not np.allclose(tta, ((plain + unmirrored_mask) / 2).numpy(), atol=1e-4)
    assert np.allclose(tta.sum(1), 1, atol=1e-5)


def test_shifted_views_move_the_image_and_its_mask_together():
    torch.manual_seed(0)
    model = create_classifier(MODEL, 3, 16).eval()
    images, keep = _data()
    x, k = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255, torch.from_numpy(keep)
    views = list(tta_views(x, k, flip=True, shifts=[1, 3], patch_size=8))
    assert len(views) == 2 + 8 * 2  # the image and its mirror, each moved 4 ways per shift
    # The third view is the image moved 1 px right: column 0 black, the rest the image's columns 0..14;
    # its mask per pixel, moved the same way (the erased left patch column now covers pixels 1..8).
    moved, moved_keep = views[2]
    assert (moved[..., 0] == 0).all() and torch.equal(moved[..., 1:], x[..., :-1])
    assert torch.equal(moved_keep[..., 1:], up(k, 8)[..., :-1]) and (moved_keep[..., :9] == 0).all()
    assert torch.equal(views[3][0][..., 1:], x.flip(-1)[..., :-1])  # then the mirror, moved the same way
    assert (views[-1][0][..., -3:, :] == 0).all()  # the last: the mirror moved 3 px up
    probs = predict(model, ImageDataset(images, keep), 4, dev=CPU, tta=True, shifts=[1, 3])
    with torch.no_grad():
        expected = torch.stack([model(v, m).softmax(-1) for v, m in views]).mean(0)
        unmoved_masks = torch.stack(
            [model(v, k if i % 2 == 0 else k.flip(-1)).softmax(-1) for i, (v, _) in enumerate(views)]
        )
    assert probs == pytest.approx(expected.numpy(), abs=1e-5)
    assert not np.allclose(probs, unmoved_masks.mean(0).numpy(), atol=1e-4)  # the masks must move with the image
    alone = predict(model, ImageDataset(images, keep), 4, dev=CPU, shifts=[1])  # shifts without the mirror
    with torch.no_grad():
        expected = torch.stack(
            [model(v, m).softmax(-1) for v, m in tta_views(x, k, flip=False, shifts=[1], patch_size=8)]
        )
    assert alone == pytest.approx(expected.mean(0).numpy(), abs=1e-5)


def test_prior_adjustment_moves_decisions_toward_rare_classes():
    # Menon et al.'s post-hoc logit adjustment: argmax log p - tau log pi. tau 0 is the plain argmax.
    probs = np.array([[0.7, 0.3, 0.0], [0.95, 0.05, 0.0]], np.float32)
    counts = np.array([90, 10, 0])
    assert prior_adjusted(probs, counts, 0.0) is probs
    assert prior_adjusted(probs, counts, 0.25).argmax(-1).tolist() == [0, 0]
    # log .7 - log .9 = -0.25 < log .3 - log .1 = 1.10; the confident row stays: log .95 - log .9 > log .05 - log .1
    assert prior_adjusted(probs, counts, 1.0).argmax(-1).tolist() == [1, 0]
    scores = prior_adjusted(probs, counts, 1.0)
    assert np.isfinite(scores).all() and scores[0, 2] == pytest.approx(np.log(1e-12))  # unseen class: plain score
