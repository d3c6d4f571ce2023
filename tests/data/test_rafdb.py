"""The RAF-DB adapter on a fixture built from its documented layout (no RAF-DB images are available)."""

from __future__ import annotations

import pytest
from raw_layouts import rafdb_tree

from conftest import decode
from mvt_fer.data import rafdb
from mvt_fer.errors import UserError

ROWS = [("train_00001.jpg", 5), ("train_00002.jpg", 1), ("test_0001.jpg", 7), ("train_00003.jpg", 4)]


def test_reads_both_splits_with_labels_1_to_7_as_0_to_6(tmp_path):
    rafdb_tree(tmp_path, ROWS, crlf=True)
    splits, report = decode(rafdb.read_rafdb(tmp_path, 48), tmp_path / "store")
    assert splits["train"].labels.tolist() == [4, 0, 3]  # sadness, surprise, happiness
    assert [rafdb.CLASSES[i] for i in splits["test"].labels] == ["neutral"]
    assert splits["train"].sources[0] == "Image/aligned/train_00001_aligned.jpg"
    assert splits["train"].images.shape == (3, 48, 48, 3)
    assert splits["train"].images[1, ..., 0].mean() > 20 and splits["train"].images[1, ..., 2].max() < 5  # RGB
    assert report == {"train": {"kept": 3, "dropped": {}}, "test": {"kept": 1, "dropped": {}}}


def test_bad_label_line_and_missing_image(tmp_path):
    rafdb_tree(tmp_path, ROWS)
    text = (tmp_path / rafdb.LABEL_FILE).read_text().replace("test_0001.jpg 7", "test_0001.jpg 9")
    (tmp_path / rafdb.LABEL_FILE).write_text(text)
    with pytest.raises(UserError, match=r"list_patition_label.txt: line 3: expected .*'test_0001.jpg 9'"):
        decode(rafdb.read_rafdb(tmp_path, 48), tmp_path / "store")
    (tmp_path / rafdb.LABEL_FILE).write_text(text.replace(" 9", " 7"))
    (tmp_path / "Image" / "aligned" / "train_00002_aligned.jpg").unlink()
    with pytest.raises(UserError, match=r"line 2: image .*train_00002_aligned.jpg is missing"):
        decode(rafdb.read_rafdb(tmp_path, 48), tmp_path / "store")
    splits, report = decode(rafdb.read_rafdb(tmp_path, 48), tmp_path / "store", skip=True)
    assert report["train"] == {"kept": 2, "dropped": {"image_missing": 1}}


def test_missing_label_file_names_it(tmp_path):
    with pytest.raises(UserError, match=r"EmoLabel/list_patition_label.txt: missing"):
        decode(rafdb.read_rafdb(tmp_path, 48), tmp_path / "store")
