import numpy as np
import pytest

from mvt_fer.data.store import PreparedStore, SplitData, write_store
from mvt_fer.errors import UserError


def _split(n, seed, face=True):
    rng = np.random.default_rng(seed)
    return SplitData(
        images=rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),
        labels=rng.integers(0, 3, n),
        clean_labels=rng.integers(0, 3, n),
        sources=[f"img{i}.png" for i in range(n)],
        flags={"occluded": rng.random(n) < 0.5},
        face=rng.integers(0, 2, (n, 8, 8), dtype=np.uint8) if face else None,
    )


def test_round_trip(tmp_path):
    splits = {"train": _split(5, 0), "test": _split(3, 1, face=False)}
    write_store(tmp_path / "store", "toy", ["a", "b", "c"], splits)
    store = PreparedStore(tmp_path / "store")
    assert store.classes == ["a", "b", "c"] and store.image_size == 8 and store.splits == ["train", "test"]
    for name, s in splits.items():
        assert np.array_equal(store.images(name), s.images)
        assert isinstance(store.images(name), np.memmap)
        rows = store.rows(name)
        assert rows["label"].tolist() == s.labels.tolist()
        assert rows["clean_label"].tolist() == s.clean_labels.tolist()
        assert rows["source"].tolist() == s.sources
        assert rows["occluded"].tolist() == s.flags["occluded"].tolist()
        assert not rows["pose_gt45"].any()
    assert np.array_equal(store.face("train"), splits["train"].face)
    assert store.face("test") is None
    with pytest.raises(UserError, match="no split 'val'"):
        store.images("val")


def test_failed_write_keeps_the_old_store(tmp_path):
    write_store(tmp_path / "store", "toy", ["a", "b", "c"], {"train": _split(4, 0)})
    bad = _split(4, 1)
    bad.images = bad.images[:2]  # shape mismatch -> error before anything is replaced
    with pytest.raises(ValueError):
        write_store(tmp_path / "store", "toy", ["a", "b", "c"], {"train": bad})
    assert len(PreparedStore(tmp_path / "store").rows("train")) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["store"]  # no temp leftovers


def test_missing_store_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="run the prepare stage"):
        PreparedStore(tmp_path / "nothing")
