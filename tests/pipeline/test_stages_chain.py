"""The five stage scripts run one after another as the CLI runs them, on the shrunken configuration with
masks on: prepare -> train_mgn -> masks -> train_mvt (with masks) -> evaluate. (test_pipeline_dvc.py drives
the same DAG through DVC.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, merge
from mvt_fer import metrics as M
from mvt_fer.data.mask_store import MaskStore
from mvt_fer.data.store import PreparedStore, SplitData, write_store
from mvt_fer.masking import keep_grid, oracle_patch_mask, up

pytestmark = pytest.mark.slow


def test_mask_bounds_random_and_oracle(tmp_path, tiny_params):
    # masks.source: random masks of G's area per image, and the oracle's (least face) beside them.
    params = merge(tiny_params, {"mvt": {"use_masks": True}, "mask_ratio": 0.25})
    for stage in ("prepare", "train_mgn"):
        _stage(tmp_path, params, stage)
    store = PreparedStore(tmp_path / "data" / "prepared")
    found = {}
    for source in ("random", "oracle"):
        _stage(tmp_path, merge(params, {"masks": {"source": source}}), "masks")
        found[source] = json.loads((tmp_path / "metrics" / "masks.json").read_text())
        meta = json.loads((tmp_path / "data" / "masks" / "meta.json").read_text())
        assert found[source]["source"] == meta["source"] == source and found[source]["mask_hardness"] == 1.0
        assert found[source]["mask_area"] == {"train": 0.25, "val": 0.25, "test": 0.25}  # 4 of 16 patches
        for split in store.splits:
            mp = MaskStore(tmp_path / "data" / "masks").mp(split, len(store.rows(split))).astype(np.float32)
            assert (mp.reshape(len(mp), -1).sum(1) == 4).all()
            if source == "oracle":
                assert np.array_equal(mp, oracle_patch_mask(store.face(split), 8, 0.25))
            else:
                assert len({row.tobytes() for row in mp}) > len(mp) // 2  # each image its own
    assert found["oracle"]["off_face_share"] > found["random"]["off_face_share"]
    assert found["oracle"]["off_face_share"] >= found["oracle"]["off_face_share_random"]


@pytest.mark.parametrize("estimator", ["soft", "straight_through"])
def test_soft_and_straight_through_masks_reach_the_classifier(tmp_path, tiny_params, estimator):
    # soft: the classifier gets x * up(1 - Mp) (the paper's complement, no top-k); straight-through: the
    # top round(m N) patches of Mp erased, as with the sampled default.
    params = merge(
        tiny_params, {"mvt": {"use_masks": True, "epochs": 1}, "mask_ratio": 0.25, "mgn": {"estimator": estimator}}
    )
    for stage in ("prepare", "train_mgn", "masks", "train_mvt"):
        _stage(tmp_path, params, stage)
    meta = json.loads((tmp_path / "data" / "masks" / "meta.json").read_text())
    masks = json.loads((tmp_path / "metrics" / "masks.json").read_text())
    assert meta["hard"] is (estimator == "straight_through")
    store = PreparedStore(tmp_path / "data" / "prepared")
    mp = MaskStore(tmp_path / "data" / "masks").mp("test", 42).astype(np.float32)
    keep = keep_grid(mp, meta["view"], meta["mask_ratio"], meta["hard"])
    if estimator == "soft":
        assert np.allclose(keep, 1 - mp) and masks["mask_area"]["test"] == pytest.approx(mp.mean(), abs=1e-5)
    else:
        assert set(np.unique(keep)) <= {0.0, 1.0} and masks["mask_area"]["test"] == 0.25
    assert json.loads((tmp_path / "metrics" / "train.json").read_text())["epochs"] == 1
    assert len(store.rows("test")) == 42


def _stage(workspace, params, stage):
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / f"{stage}.py")], cwd=workspace, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_mgn_stages_feed_the_classifier(tmp_path, tiny_params):
    params = merge(
        tiny_params,
        {
            "mvt": {"use_masks": True},
            "mask_ratio": 0.25,
            "mgn": {"estimator": "sampled"},  # the variant: hard top-k at inference (soft and straight-through above)
            "prepare": {"noise_rate": 0.3},
            "relabel": {"enabled": True, "fn": "constant", "delta": 0.0, "start_epoch": 1, "min_train_acc": None},
        },
    )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("prepare", "train_mgn", "masks", "train_mvt", "evaluate"):
        proc = subprocess.run(
            [sys.executable, str(ROOT / "stages" / f"{stage}.py")], cwd=tmp_path, capture_output=True, text=True
        )
        assert proc.returncode == 0, f"{stage}:\n{proc.stdout}\n{proc.stderr}"
        if stage == "train_mvt":
            assert "MGN-masked" in proc.stdout

    mgn = json.loads((tmp_path / "metrics" / "mgn.json").read_text())
    assert mgn["view"] == params["mgn"]["view"] and mgn["epochs"] == 2

    # The live curves (dvclive), one step per epoch, hold what the stages' own curves hold.
    for stage, curves, column in (("train_mgn", "mgn", "loss_d"), ("train_mvt", "train", "val_acc")):
        live = tmp_path / "metrics" / "live" / stage
        expected = pd.read_csv(tmp_path / "plots" / curves / "curves.csv")
        logged = pd.read_csv(live / "plots" / "metrics" / f"{column}.tsv", sep="\t")
        assert logged["step"].tolist() == list(range(len(expected)))
        assert logged[column].to_numpy() == pytest.approx(expected[column].to_numpy(), abs=1e-6)
        last = json.loads((live / "metrics.json").read_text())
        assert last["step"] == len(expected) - 1 and last["epoch"] == len(expected)
    assert {"loss_d", "loss_g", "mean_mp", "val_d_acc_random", "val_d_acc_generated"} <= set(mgn)

    masks = json.loads((tmp_path / "metrics" / "masks.json").read_text())
    # 16 patches at 32 px / patch 8: round(0.25 * 16) = 4 erased by the hard inference mask, exactly 0.25.
    assert masks["mask_area"] == {"train": 0.25, "val": 0.25, "test": 0.25}
    # The stage's off-face figure, recomputed from what it stored: the test split's Mp read as the classifier
    # reads it (complement, top-k), against the synthetic face truth.
    meta = json.loads((tmp_path / "data" / "masks" / "meta.json").read_text())
    test_mp = MaskStore(tmp_path / "data" / "masks").mp("test", 42)
    erased = 1 - keep_grid(test_mp, meta["view"], meta["mask_ratio"], meta["hard"])
    face = PreparedStore(tmp_path / "data" / "prepared").face("test")
    assert masks["off_face_share"] == pytest.approx(M.off_face_share(up(erased, 8), face), abs=1e-6)

    store, mask_store = PreparedStore(tmp_path / "data" / "prepared"), MaskStore(tmp_path / "data" / "masks")
    for split in store.splits:
        mp = mask_store.mp(split, len(store.rows(split)))
        assert mp.shape == (len(store.rows(split)), 4, 4) and mp.dtype == np.float16
    for png in (
        "plots/masks/samples.png",
        "plots/mgn/curves.png",
        "plots/eval/confusion.png",
        "plots/eval/subsets.png",
    ):
        image = cv2.imread(str(tmp_path / png))  # a decodable picture with something drawn on it
        assert image is not None and min(image.shape[:2]) > 100 and image.std() > 10, png
    assert json.loads((tmp_path / "metrics" / "eval.json").read_text())["n"] == 42

    # Relabeling was on from epoch 1 with a zero threshold over 30% injected noise: its log and metrics.
    train = json.loads((tmp_path / "metrics" / "train.json").read_text())
    log = pd.read_csv(tmp_path / "logs" / "relabel.csv")
    assert list(log.columns) == ["epoch", "index", "old", "new", "clean", "p_gt", "p_max"]
    assert train["relabel"]["count"] == len(log) > 0 and train["relabel"]["started_epoch"] == 1
    # Precision and recall, recomputed from the log and the prepared labels (given and clean).
    rows = PreparedStore(tmp_path / "data" / "prepared").rows("train")
    final = rows["label"].to_numpy().copy()
    for e in log.itertuples():
        assert final[e.index] == e.old
        final[e.index] = e.new
    noisy = rows["label"].to_numpy() != rows["clean_label"].to_numpy()
    assert train["relabel"]["precision"] == pytest.approx((log["new"] == log["clean"]).mean(), abs=1e-6)
    assert train["relabel"]["recall"] == pytest.approx(
        (final[noisy] == rows["clean_label"].to_numpy()[noisy]).mean(), abs=1e-6
    )
    assert ((log["p_max"] - log["p_gt"]) > 0).all() and (log["old"] != log["new"]).all()
    assert (tmp_path / "plots" / "relabel" / "thresholds.png").stat().st_size > 1000

    # Cross-dataset: another dataset's test split (classes 'happy', 'angry', 'pain'), matched by name.
    other = tmp_path / "other" / "prepared"
    rng = np.random.default_rng(0)
    test = SplitData(
        images=rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8),
        labels=np.array([0, 1, 2, 0, 2, 1]),
        clean_labels=np.array([0, 1, 2, 0, 2, 1]),
        sources=[f"t{i}.png" for i in range(6)],
    )
    write_store(other, "folder", ["happy", "angry", "pain"], {"test": test})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(merge(params, {"evaluate": {"cross_test": str(other)}})))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "evaluate.py")], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    cross = json.loads((tmp_path / "metrics" / "eval.json").read_text())["cross"]
    assert cross["n"] == 4 and cross["left_out_images"] == 2 and cross["unmatched_test_classes"] == ["pain"]
    assert cross["unmatched_model_classes"] == ["neutral", "sadness", "surprise", "fear", "disgust"]
    assert set(cross["per_class"]) <= {"happiness", "anger"}

    # The valid readout with 18 test-time views (masks moved with the images) and the prior correction: the
    # val split scored as the test split is, into eval.json's `val`.
    views = {"evaluate": {"tta": True, "tta_shifts": [1, 2], "prior_tau": 0.2, "val": True}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(merge(params, views)))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "evaluate.py")], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "metrics" / "eval.json").read_text())
    assert (
        result["n"] == 42 and result["val"]["n"] == len(store.rows("val")) and "evaluate: val accuracy" in proc.stdout
    )


def test_stale_masks_are_refused(tmp_path, tiny_params):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(merge(tiny_params, {"mvt": {"use_masks": True}})))

    def run(stage):
        return subprocess.run(
            [sys.executable, str(ROOT / "stages" / f"{stage}.py")], cwd=tmp_path, capture_output=True, text=True
        )

    for stage in ("prepare", "train_mgn", "masks"):
        assert run(stage).returncode == 0
    # The prepared store changes size; the masks no longer describe it.
    bigger = merge(tiny_params, {"mvt": {"use_masks": True}, "prepare": {"synthetic": {"n_train": 91}}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(bigger))
    assert run("prepare").returncode == 0
    proc = run("train_mvt")
    assert proc.returncode == 2
    assert "91 prepared train images (stale masks)" in proc.stderr and "Traceback" not in proc.stderr
