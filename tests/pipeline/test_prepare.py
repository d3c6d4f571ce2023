"""The prepare stage: each dataset choice writes the same store and reports what it kept and dropped."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from raw_layouts import rafdb_tree

from conftest import merge
from mvt_fer.data.store import PreparedStore
from mvt_fer.errors import UserError
from mvt_fer.params import parse_params
from mvt_fer.pipeline.prepare import prepare


def _ferplus_tree(root):
    votes = {
        "FER2013Train": [
            [6, 0, 1, 1, 0, 0, 0, 0, 2, 0],
            [0, 9, 0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],
        ],
        "FER2013Valid": [[0, 0, 8, 0, 0, 0, 0, 0, 0, 0]],
        "FER2013Test": [[0, 0, 0, 7, 0, 0, 0, 0, 0, 0], [4, 0, 0, 1, 3, 2, 0, 0, 0, 0]],
    }
    i = 0
    for folder, rows in votes.items():
        (root / folder).mkdir(parents=True)
        lines = []
        for row in rows:
            name = f"fer{i:07d}.png"
            cv2.imwrite(str(root / folder / name), np.full((48, 48), i * 20, np.uint8))
            lines.append(f'{name},"(0, 0, 48, 48)",' + ",".join(map(str, row)))
            i += 1
        (root / folder / "label.csv").write_text("\n".join(lines) + "\n")


def test_ferplus_prepare_writes_the_store_and_reports_drops(tmp_path, tiny_params, monkeypatch):
    _ferplus_tree(tmp_path / "raw")
    monkeypatch.chdir(tmp_path)
    p = parse_params(merge(tiny_params, {"dataset": "ferplus", "prepare": {"root": str(tmp_path / "raw")}}))
    prepare(p)
    store = PreparedStore("data/prepared")
    assert store.splits == ["train", "val", "test"] and store.num_classes == 8
    assert store.rows("train")["label"].tolist() == [0, 1]
    assert store.images("test").shape == (1, 32, 32, 3)  # resized to prepare.image_size, 3 channels
    assert store.face("test") is None
    report = json.loads((tmp_path / "metrics" / "prepare.json").read_text())
    assert report["kept"] == {"train": 2, "val": 1, "test": 1}
    assert report["dropped"] == {"train": {"not_a_face": 1}, "test": {"no_majority": 1}}


def test_ferplus_needs_a_root(tiny_params):
    with pytest.raises(UserError, match="prepare.root: dataset ferplus needs"):
        parse_params(merge(tiny_params, {"dataset": "ferplus"}))


def test_rafdb_prepare_flags_the_listed_test_subsets(tmp_path, tiny_params, monkeypatch):
    from mvt_fer.data.subsets import LISTS

    rafdb_tree(
        tmp_path / "raw", [("train_00001.jpg", 5), ("train_00002.jpg", 7), ("test_0001.jpg", 4), ("test_0002.jpg", 1)]
    )
    lists = tmp_path / "lists"
    for subset, name in LISTS["rafdb"].items():
        (lists / name).parent.mkdir(parents=True, exist_ok=True)
        (lists / name).write_text({"occluded": "test_0002_aligned 0 1\r\ntest_0404_aligned 2 2"}.get(subset, ""))
    monkeypatch.chdir(tmp_path)
    p = parse_params(merge(tiny_params, {"dataset": "rafdb", "prepare": {"root": "raw", "subset_lists": "lists"}}))
    prepare(p)
    store = PreparedStore("data/prepared")
    assert store.splits == ["train", "test"] and store.classes[0] == "surprise"
    assert store.rows("test")["occluded"].tolist() == [False, True]
    report = json.loads((tmp_path / "metrics" / "prepare.json").read_text())
    assert report["subsets"]["occluded"] == {
        "listed": 2,
        "duplicates": 0,
        "matched": 1,
        "not_in_test": 1,
        "label_disagrees": 0,
        "label_out_of_range": 0,
    }


def test_subset_lists_only_for_datasets_that_have_them(tmp_path, tiny_params, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = parse_params(merge(tiny_params, {"prepare": {"subset_lists": str(tmp_path)}}))
    with pytest.raises(UserError, match="prepare.subset_lists: there are no RAN lists for dataset synthetic"):
        prepare(p)
    assert not (tmp_path / "data" / "prepared").exists()
