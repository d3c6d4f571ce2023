"""Bad input, tried and answered (reliability): every case ends with one line naming the file, line or key
and what to do, exit status 2, no traceback, and nothing written before it damaged.

`pytest tests/test_bad_inputs.py -s` prints the table of messages that docs/development.md ("Reliability")
shows.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from conftest import merge
from mvt_fer.cli import app
from mvt_fer.data.store import SplitData, write_store

pytestmark = pytest.mark.reliability


def _stage(ws, monkeypatch, stage, params):
    (ws / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(ws)
    return CliRunner().invoke(app, [stage])


def _one_line_error(result, case, expected):
    assert result.exit_code == 2, (case, result.output, result.exception)
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]  # progress lines may come before it
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in result.output, result.output
    assert expected in errors[0], errors[0]
    print(f"\n| {case} | `{errors[0]}` |")


def _image_tree(root, layout):
    for split, classes in layout.items():
        for name, n in classes.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                cv2.imwrite(str(root / split / name / f"{i}.png"), np.full((40, 40, 3), 30 * i, np.uint8))


def _rafdb(root, lines):
    (root / "EmoLabel").mkdir(parents=True)
    (root / "Image" / "aligned").mkdir(parents=True)
    for name in ("train_00001", "test_0001"):
        cv2.imwrite(str(root / "Image" / "aligned" / f"{name}_aligned.jpg"), np.zeros((100, 100, 3), np.uint8))
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")


def _cases(tmp, tiny):
    """(case, stage, params, expected part of the message), after setting up `tmp`."""
    _image_tree(tmp / "empty_test", {"train": {"happy": 2}, "test": {"happy": 0}})
    _image_tree(tmp / "corrupt", {"train": {"sad": 2}, "test": {"sad": 1}})
    (tmp / "corrupt" / "train" / "sad" / "1.png").write_bytes(
        (tmp / "corrupt" / "test" / "sad" / "0.png").read_bytes()[:60]
    )
    _rafdb(tmp / "raf_label", ["train_00001.jpg 5", "test_0001.jpg 9"])
    _rafdb(tmp / "raf_lists", ["train_00001.jpg 5", "test_0001.jpg 3"])
    lists = tmp / "lists" / "RAF_DB_dir"
    lists.mkdir(parents=True)
    (lists / "rafdb_occlusion_list.txt").write_text("test_0001_aligned 3 4\r\nbroken-line\r\n")
    for name in ("val_raf_db_list.txt", "val_raf_db_list_45.txt"):
        (lists / name).write_text("")
    (tmp / "affectnet").mkdir()
    (tmp / "affectnet" / "training.csv").write_text(
        "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
        '1/a.jpg,0,0,10,10,"1;2",12,0,0\n'
    )
    (tmp / "affectnet" / "validation.csv").write_text((tmp / "affectnet" / "training.csv").read_text())
    return [
        (
            "missing dataset folder",
            "prepare",
            {"dataset": "ferplus", "prepare": {"root": str(tmp / "nowhere")}},
            "is not a folder",
        ),
        (
            "empty split",
            "prepare",
            {"dataset": "folder", "prepare": {"root": str(tmp / "empty_test")}},
            "no usable images in any class folder",
        ),
        (
            "truncated image",
            "prepare",
            {"dataset": "folder", "prepare": {"root": str(tmp / "corrupt")}},
            "1.png: the image cannot be decoded",
        ),
        (
            "label out of range (RAF-DB 9)",
            "prepare",
            {"dataset": "rafdb", "prepare": {"root": str(tmp / "raf_label")}},
            "line 2: expected '<split>_<n>.jpg <label 1-7>'",
        ),
        (
            "expression code out of range (AffectNet 12)",
            "prepare",
            {"dataset": "affectnet7", "prepare": {"root": str(tmp / "affectnet")}},
            "line 2: expression 12 is not 0-10",
        ),
        (
            "malformed subset list",
            "prepare",
            {"dataset": "rafdb", "prepare": {"root": str(tmp / "raf_lists"), "subset_lists": str(tmp / "lists")}},
            "rafdb_occlusion_list.txt: line 2: expected",
        ),
        (
            "typo in params.yaml",
            "prepare",
            merge(tiny, {"prepare": {"imagesize": 48}}),
            "prepare.imagesize: unknown key",
        ),
        ("wrong type in params.yaml", "train-mvt", merge(tiny, {"mvt": {"epochs": "ten"}}), "mvt.epochs"),
        (
            "missing pretrained weights file",
            "train-mgn",
            merge(tiny, {"model": {"pretrained": str(tmp / "w.pth"), "stem": "patch"}}),
            "w.pth does not exist",
        ),
        (
            "vote targets on a dataset without votes",
            "train-mvt",
            merge(tiny, {"mvt": {"targets": "votes", "use_masks": False}, "relabel": {"enabled": False}}),
            "mvt.targets: votes needs the annotators' votes, which dataset synthetic does not have",
        ),
        (
            "pretrained weights for the conv stem",
            "train-mgn",
            merge(tiny, {"model": {"pretrained": "timm"}}),
            "model.stem: conv has no pretrained weights; set model.stem: patch",
        ),
    ]


def test_each_bad_input_is_one_line(tmp_path, tiny_params, monkeypatch):
    ws = tmp_path / "ws"
    ws.mkdir()
    # A valid store first: the failures below must leave it as it was.
    assert _stage(ws, monkeypatch, "prepare", tiny_params).exit_code == 0
    before = (
        (ws / "data" / "prepared" / "meta.json").read_bytes(),
        (ws / "data" / "prepared" / "train.npy").read_bytes(),
    )
    for case, stage, params, expected in _cases(tmp_path, tiny_params):
        _one_line_error(_stage(ws, monkeypatch, stage, params), case, expected)
    assert (
        (ws / "data" / "prepared" / "meta.json").read_bytes(),
        (ws / "data" / "prepared" / "train.npy").read_bytes(),
    ) == before
    assert not list((ws / "data").glob(".prepared.*"))  # no temporary left behind


def test_stale_masks_and_foreign_checkpoints(tmp_path, tiny_params, monkeypatch):
    params = merge(tiny_params, {"mgn": {"d_warmup_epochs": 1, "epochs": 0}, "mvt": {"epochs": 1, "use_masks": True}})
    for stage in ("prepare", "train-mgn", "masks", "train-mvt"):
        assert _stage(tmp_path, monkeypatch, stage, params).exit_code == 0, stage
    # The prepared store grows: the masks no longer describe it.
    bigger = merge(params, {"prepare": {"synthetic": {"n_test": 43}}})
    assert _stage(tmp_path, monkeypatch, "prepare", bigger).exit_code == 0
    _one_line_error(
        _stage(tmp_path, monkeypatch, "evaluate", bigger), "masks that do not match the store", "stale masks"
    )
    # A classifier trained on other classes, and a file that is no checkpoint of ours.
    assert _stage(tmp_path, monkeypatch, "prepare", params).exit_code == 0
    meta = json.loads((tmp_path / "data" / "prepared" / "meta.json").read_text())
    meta["classes"] = [c.upper() for c in meta["classes"]]
    (tmp_path / "data" / "prepared" / "meta.json").write_text(json.dumps(meta))
    _one_line_error(_stage(tmp_path, monkeypatch, "evaluate", params), "checkpoint of other classes", "rerun train_mvt")
    import torch

    torch.save({"state_dict": {"w": torch.zeros(3)}}, tmp_path / "models" / "mvt.pt")
    _one_line_error(
        _stage(tmp_path, monkeypatch, "evaluate", params),
        "checkpoint of another kind",
        "models/mvt.pt: not a classifier checkpoint written by train_mvt",
    )
    # A validation readout asked of a store that has no val split (RAF-DB's has train and test only).
    rng = np.random.default_rng(0)
    split = SplitData(
        images=rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8),
        labels=np.array([0, 1]),
        clean_labels=np.array([0, 1]),
        sources=["a.png", "b.png"],
    )
    no_val = tmp_path / "no_val"
    write_store(no_val / "data" / "prepared", "folder", ["happy", "sad"], {"train": split, "test": split})
    _one_line_error(
        _stage(no_val, monkeypatch, "evaluate", merge(params, {"evaluate": {"val": True}})),
        "validation readout without a val split",
        "evaluate.val: true, but data/prepared has no val split (it has train, test)",
    )
    (tmp_path / "models" / "mgn.pt").write_bytes(b"truncated")
    _one_line_error(
        _stage(tmp_path, monkeypatch, "masks", params),
        "truncated generator checkpoint",
        "models/mgn.pt: not a mask generator checkpoint written by train_mgn",
    )
