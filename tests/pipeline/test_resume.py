"""Kill and resume (reliability): train_mgn and train_mvt killed with SIGKILL during an epoch continue
from their last epoch checkpoint and end with byte-identical outputs to an uninterrupted run."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, merge

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

PARAMS = {
    "mgn": {"d_warmup_epochs": 1, "epochs": 2},
    "mvt": {"epochs": 4, "use_masks": True},
    "prepare": {"noise_rate": 0.3},
    "relabel": {"enabled": True, "fn": "constant", "delta": 0.0, "start_epoch": 2, "min_train_acc": None},
}


def _stage(name, cwd, kill_after=None):
    """Run a stage; with `kill_after`, SIGKILL it as soon as it has reported that line's epoch."""
    cmd = [sys.executable, str(ROOT / "stages" / f"{name}.py")]
    if kill_after is None:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith(kill_after):
            proc.send_signal(signal.SIGKILL)
            break
    assert proc.wait() == -signal.SIGKILL, f"{name} ended before {kill_after!r}"
    return None


def test_killed_training_stages_resume_to_the_same_results(tmp_path, tiny_params):
    params = yaml.safe_dump(merge(tiny_params, PARAMS))
    ref, run = tmp_path / "uninterrupted", tmp_path / "killed"
    for ws in (ref, run):
        ws.mkdir()
        (ws / "params.yaml").write_text(params)
        _stage("prepare", ws)
    for name in ("train_mgn", "masks", "train_mvt"):
        _stage(name, ref)

    _stage("train_mgn", run, kill_after="train_mgn epoch=2 ")
    assert (run / "checkpoints" / "train_mgn.pt").is_file() and not (run / "metrics" / "mgn.json").exists()
    out = _stage("train_mgn", run)
    assert "continuing from checkpoints/train_mgn.pt after epoch 2" in out
    assert not (run / "checkpoints" / "train_mgn.pt").exists()  # removed once the outputs are written
    _stage("masks", run)
    _stage("train_mvt", run, kill_after="train_mvt epoch=3 ")
    out = _stage("train_mvt", run)
    assert "after epoch 3" in out and "train_mvt epoch=4 " in out and "train_mvt epoch=2 " not in out

    for f in (
        "metrics/mgn.json",
        "plots/mgn/curves.csv",
        "metrics/masks.json",
        "metrics/train.json",
        "plots/train/curves.csv",
        "logs/relabel.csv",
    ):
        assert (run / f).read_bytes() == (ref / f).read_bytes(), f
    assert len((ref / "logs" / "relabel.csv").read_text().splitlines()) > 1  # labels did change


def test_a_checkpoint_of_other_params_is_not_continued(tmp_path, tiny_params):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(merge(tiny_params, PARAMS)))
    _stage("prepare", tmp_path)
    _stage("train_mgn", tmp_path)
    _stage("masks", tmp_path)
    _stage("train_mvt", tmp_path, kill_after="train_mvt epoch=2 ")
    other = merge(tiny_params, merge(PARAMS, {"mvt": {"lr": 0.002}}))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(other))
    out = _stage("train_mvt", tmp_path)
    assert "ignoring checkpoints/train_mvt.pt: written for other params or inputs" in out
    assert "train_mvt epoch=1 " in out


def test_partial_saves_left_by_a_kill_are_removed(tmp_path):
    from mvt_fer.engine.checkpoint import Resume

    partial = tmp_path / ".train_mvt.pt.abc123.tmp"
    partial.mkdir()
    (partial / "train_mvt.pt").write_bytes(b"half a checkpoint")
    assert Resume(tmp_path / "train_mvt.pt", "fp").load() is None
    assert not partial.exists()
