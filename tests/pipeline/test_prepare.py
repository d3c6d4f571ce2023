"""The prepare stage: each dataset choice writes the same store and reports what it kept and dropped."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import yaml
from raw_layouts import rafdb_tree

from conftest import ROOT, merge
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


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_the_store_is_the_same_bytes_whatever_the_workers(tmp_path, tiny_params, monkeypatch):
    """Rows decoded in 2 processes and written as they arrive give the files one process writes, dropped
    rows compacted away, each array byte for byte what np.save writes for it."""
    raw = tmp_path / "raw"
    for split, n in (("train", 70), ("test", 40)):  # more than a worker block: the pool is used
        for i in range(n):
            (raw / split / ("happy", "sad")[i % 2]).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(raw / split / ("happy", "sad")[i % 2] / f"{i:03d}.png"), np.full((40, 30, 3), i, np.uint8))
    (raw / "train" / "sad" / "033.png").write_bytes(b"")  # row 51 of 70 (happy/ first): the second block
    monkeypatch.chdir(tmp_path)
    stores = {}
    for workers in (1, 2):
        params = {"dataset": "folder", "prepare": {"root": "raw", "bad_rows": "skip", "workers": workers}}
        prepare(parse_params(merge(tiny_params, params)))
        stores[workers] = _files(tmp_path / "data" / "prepared")
    assert stores[1] == stores[2]
    store = PreparedStore("data/prepared")
    train = np.array(store.images("train"))
    assert train.shape == (69, 32, 32, 3) and "train/sad/033.png" not in store.rows("train")["source"].tolist()
    assert train[50, 0, 0, 0] == 31 and train[51, 0, 0, 0] == 35  # the rows after the dropped one moved up
    buffer = io.BytesIO()
    np.save(buffer, train)
    assert stores[2]["train.npy"] == buffer.getvalue()


def test_synthetic_store_is_the_same_with_one_or_two_workers(tmp_path, tiny_params, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stores = {}
    for workers in (1, 2):
        prepare(parse_params(merge(tiny_params, {"prepare": {"workers": workers}})))
        stores[workers] = _files(tmp_path / "data" / "prepared")
    assert stores[1] == stores[2] and "train_face.npy" in stores[1]


@pytest.mark.reliability
def test_a_prepare_killed_while_writing_leaves_the_previous_store_whole(tmp_path, tiny_params):
    """SIGKILL in the middle of writing the images: the previous store stays as it was, readable; the next
    prepare clears what the killed one left and replaces the store."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    stage = [sys.executable, str(ROOT / "stages" / "prepare.py")]
    subprocess.run(stage, cwd=tmp_path, check=True, capture_output=True)
    store = tmp_path / "data" / "prepared"
    before = _files(store)
    big = merge(tiny_params, {"prepare": {"workers": 2, "synthetic": {"n_train": 20000}}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(big))
    proc = subprocess.Popen(stage, cwd=tmp_path, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the new train.npy holds a few hundred rows
            partial = list((tmp_path / "data").glob(".prepared.*.tmp/prepared/train.npy"))
            if partial and partial[0].stat().st_size > 300 * 32 * 32 * 3:
                break
            assert proc.poll() is None, "prepare ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("prepare never started writing")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _files(store) == before
    assert len(PreparedStore(store).rows("train")) == 84
    assert list((tmp_path / "data").glob(".prepared.*.tmp")), "the killed run left its temporary store"
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump(merge(tiny_params, {"prepare": {"synthetic": {"n_train": 91}}}))
    )
    subprocess.run(stage, cwd=tmp_path, check=True, capture_output=True)
    assert len(PreparedStore(store).rows("train")) == 91 and not list((tmp_path / "data").glob(".prepared.*"))
