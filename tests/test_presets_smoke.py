"""Every paper preset through the five stages under `dvc exp run`, as a user starts one: DeiT-S at 224 px with
weights from a local file (random, in timm's layout: no hub), on a few images per class written in that
preset's own raw layout, the schedules shrunk by `--smoke`. A preset that breaks in its fourth stage fails
here, not after a user's first three stages."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess

import cv2
import numpy as np
import pytest
import timm
import torch
from typer.testing import CliRunner

from mvt_fer.cli import app
from mvt_fer.data import affectnet, ferplus, rafdb
from mvt_fer.params import read_yaml

pytestmark = pytest.mark.slow

# Each dataset's preset (the MGN as written) and its `-sampled` variant, side by side in two copies of the repo,
# one thread each: half of a smoke run is single-threaded Python start-up, so the pair takes about the time of
# one run on two cores.
DATASETS = ["rafdb", "ferplus", "affectnet7", "affectnet8"]
STAGES = ("prepare", "train_mgn", "masks", "train_mvt", "evaluate")
METRICS = ("prepare", "mgn", "masks", "train", "eval")


@pytest.fixture(scope="module")
def deit_s(tmp_path_factory):
    """A DeiT-S state dict in timm's layout (random weights: what matters is that every stage loads it)."""
    path = tmp_path_factory.mktemp("weights") / "deit_small_patch16_224.pth"
    torch.manual_seed(0)
    torch.save(timm.create_model("deit_small_patch16_224").state_dict(), path)
    return path


def _image(rng, h, w, grey=False):
    return rng.integers(0, 256, (h, w) if grey else (h, w, 3), dtype=np.uint8)


def write_raw(dataset: str, root, per_class: int = 1) -> None:
    """`per_class` training images and one test (and FERPlus valid) image per class, in the dataset's layout."""
    rng = np.random.default_rng(0)
    if dataset == "rafdb":
        (root / "Image" / "aligned").mkdir(parents=True)
        lines = []
        for split, n in (("train", per_class), ("test", 1)):
            for label in range(1, 8):
                for _ in range(n):
                    stem = f"{split}_{len(lines):05d}"
                    cv2.imwrite(str(root / "Image" / "aligned" / f"{stem}_aligned.jpg"), _image(rng, 100, 100))
                    lines.append(f"{stem}.jpg {label}")
        (root / rafdb.LABEL_FILE).parent.mkdir(parents=True)
        (root / rafdb.LABEL_FILE).write_text("\n".join(lines) + "\n")
    elif dataset == "ferplus":
        for split, folder in ferplus.FOLDERS.items():
            (root / folder).mkdir(parents=True)
            lines = []
            for label in range(8):  # the eight FERPlus classes; votes for unknown and not-a-face stay 0
                for i in range(per_class if split == "train" else 1):
                    name = f"fer{label:02d}{i:05d}.png"
                    cv2.imwrite(str(root / folder / name), _image(rng, 48, 48, grey=True))
                    votes = [10 if k == label else 0 for k in range(10)]
                    lines.append(f'{name},"(0, 0, 48, 48)",' + ",".join(map(str, votes)))
            (root / folder / "label.csv").write_text("\n".join(lines) + "\n")
    else:  # affectnet7 / affectnet8: boxes in larger pictures, expressions 0-7 (7: contempt)
        images = root / "Manually_Annotated_Images"
        for split, name in affectnet.FILES.items():
            lines = [HEADER]
            for label in range(8):
                for i in range(per_class if split == "train" else 1):
                    path = f"{label}/{split}{i}.jpg"
                    (images / path).parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(images / path), _image(rng, 120, 160))
                    lines.append(f'{path},20,10,90,90,"1.0;2.0",{label},0.1,-0.2')
            (root / name).write_text("\n".join(lines) + "\n")


HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"


@pytest.mark.parametrize("dataset", DATASETS)
def test_preset_and_its_sampled_variant_run_all_five_stages_at_224_px(dataset, repo, deit_s):
    work, env = repo
    write_raw(dataset, raw := work.parent / "raw")
    names = (dataset, f"{dataset}-sampled")
    works = (work, shutil.copytree(work, work.parent / "repo-sampled", symlinks=True))
    env = env | {"OMP_NUM_THREADS": "1"}
    runs = [
        subprocess.Popen(
            _exp_run(n, raw, w, deit_s), cwd=w, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for n, w in zip(names, works)
    ]
    for name, w, run in zip(names, works, runs):
        out = run.communicate()[0]
        assert run.returncode == 0, f"{name}:\n{out}"
        assert [s for s in STAGES if f"Running stage '{s}'" in out] == list(STAGES), out
        _check_outputs(name, dataset, w)


def test_presets_run_all_five_stages_under_torchrun_with_two_processes(repo, deit_s):
    # The AffectNet preset's balanced sampler and RAF-DB's relabeling under DDP, gloo, 2 processes, side by side.
    work, env = repo
    names = ("rafdb", "affectnet8")
    works = (work, shutil.copytree(work, work.parent / "repo-affectnet8", symlinks=True))
    env = env | {"OMP_NUM_THREADS": "1"}
    runs = []
    for name, w in zip(names, works):
        write_raw(name, raw := w.parent / f"raw-{name}", per_class=2)
        cmd = _exp_run(name, raw, w, deit_s) + ["-S", "launch.command=torchrun --nproc-per-node 2"]
        runs.append(subprocess.Popen(cmd, cwd=w, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for name, w, run in zip(names, works, runs):
        out = run.communicate()[0]
        assert run.returncode == 0, f"{name}:\n{out}"
        assert [s for s in STAGES if f"Running stage '{s}'" in out] == list(STAGES), out
        assert "2 process(es)" in out, out
        assert read_yaml(w / "params.yaml")["mvt"]["sampler"] == ("balanced" if name == "affectnet8" else "uniform")
        _check_outputs(name, name, w)


def _exp_run(name, raw, work, deit_s) -> list[str]:
    """`dvc exp run` with the flags `mvt-fer preset NAME --smoke` prints, as a user would start it."""
    flags = CliRunner().invoke(
        app, ["preset", name, "--root", str(raw), "--smoke", "--params", str(work / "params.yaml")]
    )
    assert flags.exit_code == 0, flags.output
    # The preset's own model, weights from the local file; one worker process (two cores).
    extra = ["-S", f"model.pretrained={deit_s}", "-S", "mvt.num_workers=0", "-S", "mgn.num_workers=0"]
    return ["dvc", "exp", "run", "-n", f"smoke-{name}", *shlex.split(flags.output), *extra]


def _check_outputs(name, dataset, work) -> None:
    metrics = {m: json.loads((work / "metrics" / f"{m}.json").read_text()) for m in METRICS}
    n_classes = 7 if dataset in ("rafdb", "affectnet7") else 8
    assert metrics["prepare"]["dataset"] == dataset and len(metrics["prepare"]["classes"]) == n_classes
    assert metrics["eval"]["n"] == n_classes  # one test image per class, every one scored
    assert metrics["masks"]["source"] == "generator" and metrics["masks"]["mask_ratio"] == (
        0.2 if dataset == "ferplus" else 0.15
    )
    # --smoke turns relabeling on in its one epoch wherever the preset relabels (not on AffectNet).
    assert ("relabel" in metrics["train"]) == (not dataset.startswith("affectnet"))
    if "relabel" in metrics["train"]:
        assert metrics["train"]["relabel"]["started_epoch"] == 1
    # The estimator the run trained G with is the preset's.
    params = read_yaml(work / "params.yaml")
    assert params["mgn"]["estimator"] == ("sampled" if name.endswith("-sampled") else "soft")
    # The classifier and G the stages saved are DeiT-S at 224 px: 12 blocks, 14 x 14 patches, G on 6.
    mvt, mgn = (torch.load(work / "models" / f, weights_only=False) for f in ("mvt.pt", "mgn.pt"))
    assert mvt["image_size"] == 224 and mgn["depth"] == 6
