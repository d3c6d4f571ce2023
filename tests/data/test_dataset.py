import numpy as np
import torch

from mvt_fer.data.dataset import ImageDataset


def _images(n=4, size=16):
    return np.random.default_rng(0).integers(1, 256, (n, size, size, 3), dtype=np.uint8)


def test_without_masks_yields_image_and_index_only():
    ds = ImageDataset(_images())
    item = ds[2]
    assert set(item) == {"image", "index"}
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.uint8
    assert torch.equal(item["image"], torch.from_numpy(_images()[2]).permute(2, 0, 1))


def test_a_list_of_rows_is_one_batch_in_that_order():
    images = _images(n=7)
    patch_masks = np.random.default_rng(1).random((7, 4, 4)).astype(np.float16)
    ds = ImageDataset(images, patch_masks)
    batch = ds[[5, 0, 3]]
    assert batch["index"].tolist() == [5, 0, 3]
    assert torch.equal(batch["image"], torch.from_numpy(images[[5, 0, 3]]).permute(0, 3, 1, 2))
    assert batch["keep"].dtype == torch.float32 and torch.equal(
        batch["keep"], torch.from_numpy(patch_masks[[5, 0, 3]]).float()
    )


def test_batches_cover_the_split_in_order():
    ds = ImageDataset(_images(n=7), np.ones((7, 4, 4), np.float32))
    batches = list(ds.batches(3))
    assert [b["index"].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert all(b["keep"].shape[1:] == (4, 4) for b in batches)  # per patch: the model expands it
