"""The class-folder adapter: canonical class names, split folder aliases, bad images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import decode
from mvt_fer.data import folder
from mvt_fer.errors import UserError


def _tree(root, layout):
    for split, classes in layout.items():
        for name, n in classes.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                cv2.imwrite(str(root / split / name / f"{i}.png"), np.full((20, 30), 40 * i, np.uint8))


def test_class_names_become_canonical_and_others_are_kept(tmp_path):
    _tree(
        tmp_path,
        {"train": {"Angry": 2, "happy": 1, "pain": 1}, "valid": {"happy": 1}, "test": {"angry": 1, "happy": 2}},
    )
    (tmp_path / "train" / "happy" / "notes.txt").write_text("not an image")
    plan = folder.read_folder(tmp_path, 24)
    classes, (splits, report) = plan.classes, decode(plan, tmp_path / "store")
    assert classes == ["happiness", "anger", "pain"]
    assert splits["train"].labels.tolist() == [1, 1, 0, 2]
    assert splits["test"].labels.tolist() == [1, 0, 0] and splits["val"].labels.tolist() == [0]
    assert splits["train"].sources[0] == "train/Angry/0.png"
    assert splits["test"].images.shape == (3, 24, 24, 3)
    assert report["train"] == {"kept": 4, "dropped": {}}


def test_an_empty_val_folder_is_no_val_split(tmp_path):
    _tree(tmp_path, {"train": {"sad": 1}, "val": {"sad": 0}, "test": {"sad": 1}})
    splits, _ = decode(folder.read_folder(tmp_path, 24), tmp_path / "store")
    assert sorted(splits) == ["test", "train"]


def test_missing_split_and_corrupt_image(tmp_path):
    _tree(tmp_path, {"train": {"sad": 2}})
    with pytest.raises(UserError, match=r"no test/ folder"):
        folder.read_folder(tmp_path, 24)
    _tree(tmp_path, {"test": {"sad": 1}})
    (tmp_path / "train" / "sad" / "1.png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(UserError, match=r"train/sad/1.png: the image cannot be decoded"):
        decode(folder.read_folder(tmp_path, 24), tmp_path / "store")
    splits, report = decode(folder.read_folder(tmp_path, 24), tmp_path / "store", skip=True)
    assert report["train"] == {"kept": 1, "dropped": {"image_unreadable": 1}}
