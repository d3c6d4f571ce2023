import albumentations as A
import numpy as np
import torch

from mvt_fer.data.dataset import ImageDataset
from mvt_fer.data.transforms import train_transform
from mvt_fer.masking import up
from mvt_fer.params import AugmentParams


def _images(n=4, size=16):
    return np.random.default_rng(0).integers(1, 256, (n, size, size, 3), dtype=np.uint8)


def test_without_masks_yields_image_and_index_only():
    ds = ImageDataset(_images())
    item = ds[2]
    assert set(item) == {"image", "index"}
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.uint8
    assert torch.equal(item["image"], torch.from_numpy(_images()[2]).permute(2, 0, 1))


def test_mask_stays_aligned_with_a_flipped_image():
    images = _images()
    patch_masks = np.ones((4, 4, 4), np.float32)
    patch_masks[:, :, 0] = 0  # erase the left-most patch column
    flip = A.Compose([A.HorizontalFlip(p=1.0)])
    item = ImageDataset(images, flip, patch_masks, patch_size=4)[1]
    keep = item["keep"].numpy()
    assert (keep[:, -4:] == 0).all() and (keep[:, :-4] == 1).all()  # now the right-most column
    assert torch.equal(item["image"], torch.from_numpy(images[1][:, ::-1].copy()).permute(2, 0, 1))


def test_mask_follows_the_shift_and_ignores_the_colour_jitter():
    # The image is white exactly where the mask keeps pixels: after a random shift they must still agree.
    patch_masks = np.zeros((1, 4, 4), np.float32)
    patch_masks[0, 1:3, 1:3] = 1
    white = np.repeat((np.kron(patch_masks[0], np.ones((8, 8))) * 255).astype(np.uint8)[..., None], 3, -1)[None]
    moved = 0
    for jitter in (0.0, 0.5):
        aug = AugmentParams(hflip=0.5, shift=0.2, color_jitter=jitter, color_jitter_p=1.0, random_erasing=0.0)
        ds = ImageDataset(white, train_transform(aug), patch_masks, patch_size=8)
        for seed in range(6):
            ds.set_seed(seed)
            item = ds[0]
            keep = item["keep"].numpy()
            assert set(np.unique(keep)) <= {0.0, 1.0}  # nearest-neighbour, never jittered
            bright = item["image"].float().mean(0).numpy() > 60
            assert (bright == (keep == 1)).mean() > 0.95
            moved += not np.array_equal(keep, np.kron(patch_masks[0], np.ones((8, 8))))
    assert moved > 0


def test_augmentation_is_seeded():
    ds = ImageDataset(_images(size=32), train_transform(AugmentParams(shift=0.1, random_erasing=0.25)))
    ds.set_seed(5)
    a = [ds[i]["image"] for i in range(4)]
    ds.set_seed(5)
    b = [ds[i]["image"] for i in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_batches_match_the_per_sample_path():
    images = _images(n=7)
    patch_masks = np.random.default_rng(1).random((7, 4, 4)).astype(np.float32)
    ds = ImageDataset(images, patch_masks=patch_masks, patch_size=4)
    batches = list(ds.batches(3))
    assert [len(b["index"]) for b in batches] == [3, 3, 1]
    for b in batches:
        for j, i in enumerate(b["index"].tolist()):
            item = ds[i]
            assert torch.equal(b["image"][j], item["image"])
            assert torch.equal(up(b["keep"][j], 4), item["keep"])  # per patch here, per pixel there


def test_augmentation_depends_on_seed_and_row_only():
    # What lets num_workers (and so the machine's core count) leave results unchanged: a row's augmentation
    # does not depend on which rows were read before it, in this process or another.
    ds = ImageDataset(_images(size=32), train_transform(AugmentParams(color_jitter_p=1.0)))
    ds.set_seed(5)
    forward = [ds[i]["image"] for i in range(4)]
    ds.set_seed(5)
    backward = [ds[i]["image"] for i in reversed(range(4))][::-1]
    assert all(torch.equal(x, y) for x, y in zip(forward, backward))
    ds.set_seed(6)
    assert not all(torch.equal(ds[i]["image"], x) for i, x in enumerate(forward))


def test_random_erasing_and_colour_jitter_touch_the_image_only():
    # Erasing on every image, jitter on every image, no geometry: the keep-mask must come out as it went in,
    # while the image itself changes.
    patch_masks = np.ones((4, 2, 2), np.float32)
    patch_masks[:, 0, 1] = 0
    aug = AugmentParams(hflip=0.0, shift=0.0, color_jitter=0.4, color_jitter_p=1.0, random_erasing=1.0)
    ds = ImageDataset(_images(), train_transform(aug), patch_masks, patch_size=8)
    for seed in range(3):
        ds.set_seed(seed)
        for i in range(4):
            item = ds[i]
            assert np.array_equal(item["keep"].numpy(), up(patch_masks[i], 8))
            assert not torch.equal(item["image"], torch.from_numpy(_images()[i]).permute(2, 0, 1))
