"""The whole DAG under DVC, in a temporary git repo, with the shrunken configuration."""

from __future__ import annotations

import hashlib
import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import run_cmd
from mvt_fer import metrics as M
from mvt_fer.data.store import PreparedStore
from mvt_fer.masking import keep_grid, up
from mvt_fer.params import read_yaml

pytestmark = pytest.mark.slow


@pytest.mark.reliability
def test_repro_then_nothing_then_exactly_the_affected_stages(repo):
    work, env = repo
    run_cmd(["dvc", "repro"], work, env)
    first = (work / "metrics" / "eval.json").read_bytes()
    result = json.loads(first)
    assert result["n"] == 42
    pairs = pd.read_csv(work / "plots" / "eval" / "confusion.csv")  # one row per test image, in order
    assert result["accuracy"] == pytest.approx((pairs["actual"] == pairs["predicted"]).mean(), abs=1e-6)
    assert set(result["per_class"]) <= {"neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger"}
    assert set(result["subsets"]) <= {"occluded", "pose_gt30", "pose_gt45"} and result["subsets"]
    for out in (
        "plots/eval/confusion.png",
        "plots/eval/confusion.csv",
        "plots/train/curves.png",
        "plots/train/curves.csv",
        "metrics/train.json",
        "metrics/prepare.json",
        "models/mvt.pt",
        "models/mgn.pt",
        "metrics/mgn.json",
        "plots/mgn/curves.png",
        "plots/mgn/curves.csv",
        "metrics/masks.json",
        "plots/masks/samples.png",
        "plots/masks/mean_mask.png",
        "data/masks/test.npy",
        "logs/relabel.csv",
        "plots/relabel/thresholds.png",
    ):
        assert (work / out).is_file(), out
    masks = json.loads((work / "metrics" / "masks.json").read_text())
    assert set(masks["mask_area"]) == {"train", "val", "test"}
    # Every figure recomputed from what the stages stored: G's raw Mp, read as the classifier reads it,
    # against the synthetic face truth; the Mp figures on the raw output, not on the keep-masks.
    mp = np.load(work / "data" / "masks" / "test.npy")
    meta = json.loads((work / "data" / "masks" / "meta.json").read_text())
    erased = 1 - keep_grid(mp, meta["view"], meta["mask_ratio"], meta["hard"])
    face = PreparedStore(work / "data" / "prepared").face("test")
    assert masks["off_face_share"] == pytest.approx(M.off_face_share(up(erased, meta["patch_size"]), face), abs=1e-6)
    assert masks["mask_specificity"] == pytest.approx(M.mask_specificity(erased, 0), abs=1e-6)
    assert masks["mask_hardness"] == pytest.approx(M.mask_hardness(mp), abs=1e-6)
    assert masks["mean_mp"]["test"] == pytest.approx(float(mp.astype(np.float64).mean()), abs=1e-6)

    # Nothing changed: nothing reruns.
    again = run_cmd(["dvc", "repro"], work, env)
    assert "Running stage" not in again
    run_cmd(["git", "add", "-A"], work, env)
    run_cmd(["git", "commit", "-q", "-m", "baseline"], work, env)

    # Data versioning: push to a local-directory remote; a fresh clone pulls and reruns nothing.
    run_cmd(["dvc", "remote", "add", "-d", "shared", str(work.parent / "remote")], work, env)
    run_cmd(["git", "commit", "-q", "-am", "remote"], work, env)
    run_cmd(["dvc", "push"], work, env)
    clone = work.parent / "clone"
    run_cmd(["git", "clone", "-q", str(work), str(clone)], work.parent, env)
    clone_env = env | {"PYTHONPATH": str(clone / "src")}
    run_cmd(["dvc", "pull"], clone, clone_env)
    pulled = run_cmd(["dvc", "repro"], clone, clone_env)
    assert "Running stage" not in pulled
    for f in ("metrics/eval.json", "metrics/train.json", "metrics/masks.json", "models/mvt.pt", "data/masks/test.npy"):
        assert (clone / f).read_bytes() == (work / f).read_bytes(), f

    # A training param reruns training and evaluation, not prepare; metrics diff shows the change.
    exp = run_cmd(["dvc", "exp", "run", "-S", "mvt.epochs=1"], work, env)
    assert "Running stage 'train_mvt'" in exp and "Running stage 'evaluate'" in exp
    for stage in ("prepare", "train_mgn", "masks"):
        assert f"Running stage '{stage}'" not in exp
    diff = run_cmd(["dvc", "metrics", "diff"], work, env)
    assert "metrics/train.json" in diff and "epochs" in diff

    # mask_ratio is a dependency of train_mgn and everything after it, not of prepare.
    run_cmd(["git", "checkout", "-q", "--", "params.yaml"], work, env)
    exp = run_cmd(["dvc", "exp", "run", "-S", "mask_ratio=0.25"], work, env)
    for stage in ("train_mgn", "masks", "train_mvt", "evaluate"):
        assert f"Running stage '{stage}'" in exp
    assert "Running stage 'prepare'" not in exp
    assert json.loads((work / "metrics" / "masks.json").read_text())["mask_ratio"] == 0.25

    # Same params and seed: byte-identical metrics, recomputed from scratch.
    run_cmd(["git", "checkout", "-q", "--", "params.yaml"], work, env)
    run_cmd(["dvc", "repro", "--force"], work, env)
    assert (work / "metrics" / "eval.json").read_bytes() == first


def test_bad_params_stop_dvc_repro_with_one_line(repo):
    work, env = repo
    params = read_yaml(work / "params.yaml")
    params["mvt"]["epochz"] = 3
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run(["dvc", "repro"], cwd=work, env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "error: params.yaml: mvt.epochz: unknown key" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.reliability
def test_outputs_are_linked_to_the_cache_and_a_rerun_never_writes_through_the_link(repo):
    """With the project's cache.type (hard links here) the store is on disk once; a rerun, by DVC or by hand
    without DVC removing the outputs first, replaces files whole, so every cached object keeps its hash."""
    work, env = repo
    run_cmd(["dvc", "repro", "prepare"], work, env)
    run_cmd(["git", "add", "-A"], work, env)
    run_cmd(["git", "commit", "-q", "-m", "first store"], work, env)
    cache = work / ".dvc" / "cache" / "files" / "md5"
    objects = {p.stat().st_ino: p for p in cache.rglob("*") if p.is_file() and p.suffix != ".dir"}
    store = work / "data" / "prepared"
    assert (store / "train.npy").stat().st_ino in objects, "the output is a copy, not a link to the cache"
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["prepare"]["synthetic"]["n_train"] += 7
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_cmd(["python", "stages/prepare.py"], work, env)  # by hand: the linked files are still in place
    run_cmd(["dvc", "repro", "prepare"], work, env)
    objects = [p for p in cache.rglob("*") if p.is_file() and p.suffix != ".dir"]
    assert len(objects) >= 2 * 7  # both stores' files are cached
    for path in objects:
        assert hashlib.md5(path.read_bytes()).hexdigest() == path.parent.name + path.name, path
    run_cmd(["git", "checkout", "-q", "--", "params.yaml", "dvc.lock"], work, env)  # back to the first store
    run_cmd(["dvc", "checkout", "prepare"], work, env)
    assert len(PreparedStore(store).rows("train")) == params["prepare"]["synthetic"]["n_train"] - 7
