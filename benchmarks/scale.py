"""Data at scale, simulated: prepare's memory and speed on an AffectNet-layout tree, and the training data path.

    python benchmarks/scale.py --images 2000,20000 --size 224      (make bench-scale)

Writes an AffectNet tree (training.csv, validation.csv, JPEGs of synthetic faces in a larger photo with a
face box) of N training images for each N asked, runs the prepare stage on it as a user would (`python
stages/prepare.py`, dataset affectnet8) and samples the whole process tree's resident memory (prepare and
its workers, summed) every 20 ms. Ends with one JSON object:

    prepare_peak_rss_mb           {N: peak RSS of the process tree, MB}, at the most workers asked
    prepare_images_per_s          {workers: images/s of the whole stage, start-up included}, at the largest N
    loader_images_per_s_per_core  what a DataLoader worker does per image at `--size` (rows of the store and
                                  per-patch keep grids, batches of 32 in shuffled order), in one process
    augment_images_per_s_cpu      what moved to the training device (uint8 -> float, flip, colour jitter,
                                  random erasing, the keep mask: the rafdb preset's), batched on this CPU
    train_demand_images_per_s     a DeiT-S train step at `--size` on this CPU (batch 32), for scale
    loader_vs_train_demand        loader_images_per_s_per_core / train_demand_images_per_s
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import psutil
import torch
import typer
import yaml

from mvt_fer import presets
from mvt_fer.data import synthetic
from mvt_fer.data.affectnet import CLASSES
from mvt_fer.data.augment import BatchAugment
from mvt_fer.data.dataset import ImageDataset
from mvt_fer.data.store import PreparedStore
from mvt_fer.engine.runtime import to_device
from mvt_fer.masking import keep_grid
from mvt_fer.params import AugmentParams, SyntheticParams, read_yaml

ROOT = Path(__file__).resolve().parents[1]
HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
DISTINCT = 256  # distinct faces rendered; the files repeat them (decoding costs the same either way)
TEST_ROWS = 256


def write_affectnet_tree(root: Path, n_train: int, size: int) -> None:
    """AffectNet's layout with n_train training rows and TEST_ROWS validation rows: each JPEG is a synthetic
    face of `size` px inside a photo 1.25x larger, the CSV's box on the face."""
    faces = synthetic.generate_split(0, "train", DISTINCT, size, SyntheticParams()).images
    margin = size // 8
    jpegs = []
    for face in faces:
        photo = cv2.copyMakeBorder(face[..., ::-1], margin, margin, margin, margin, cv2.BORDER_REFLECT)
        jpegs.append(cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    for name, n in (("training.csv", n_train), ("validation.csv", TEST_ROWS)):
        lines = [HEADER]
        for i in range(n):
            path = f"{name[0]}{i // 1000:03d}/{i:07d}.jpg"
            (root / "Manually_Annotated_Images" / path).parent.mkdir(parents=True, exist_ok=True)
            (root / "Manually_Annotated_Images" / path).write_bytes(jpegs[i % DISTINCT])
            lines.append(f'{path},{margin},{margin},{size},{size},"0;0",{i % len(CLASSES)},0.0,0.0')
        (root / name).write_text("\n".join(lines) + "\n")


def run_prepare(work: Path, tree: Path, size: int, workers: int) -> tuple[float, float]:
    """(wall seconds, peak RSS of the process tree in MB) of `python stages/prepare.py` on `tree`."""
    params = read_yaml(ROOT / "params.yaml")
    params = presets.merge(params, {"dataset": "affectnet8", "prepare": {"root": str(tree), "image_size": size}})
    params = presets.merge(params, {"prepare": {"workers": workers}, "model": {"img_size": size}})
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    start = time.perf_counter()
    proc = psutil.Popen([sys.executable, str(ROOT / "stages" / "prepare.py")], cwd=work, stdout=subprocess.DEVNULL)
    peak, done = 0, threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            try:
                tree_rss = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
            except psutil.Error:  # a worker ended between listing and reading it
                continue
            peak = max(peak, tree_rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    if code:
        raise SystemExit(f"prepare failed (exit {code}) on {tree}")
    return time.perf_counter() - start, peak / 2**20


def loader_rate(store: PreparedStore, grid: int, batch: int = 32, seconds: float = 5.0) -> float:
    """Images/s of one process doing a DataLoader worker's job: batches of store rows and keep grids."""
    images = store.images("train")
    mp = np.random.default_rng(0).random((len(images), grid, grid)).astype(np.float16)
    dataset = ImageDataset(images, keep_grid(mp, "show", 0.15))
    order = np.random.default_rng(0).permutation(len(dataset))
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for j in range(0, len(order) - batch + 1, batch):
            n += len(dataset[order[j : j + batch].tolist()]["index"])
            if time.perf_counter() - start > seconds:
                break
    return n / (time.perf_counter() - start)


def augment_rate(store: PreparedStore, augment: AugmentParams, patch: int, batch: int = 32) -> float:
    """Images/s of the training device's share (to_device's uint8 -> float, then BatchAugment) on this CPU."""
    images = store.images("train")
    grid = images.shape[1] // patch
    dataset = ImageDataset(images, np.ones((len(images), grid, grid), np.float32))
    batches = [dataset[list(range(j, j + batch))] for j in range(0, 16 * batch, batch)]
    aug, dev = BatchAugment(augment, patch), torch.device("cpu")
    aug(*to_device(batches[0], dev)[:2], 0)  # warm-up
    start = time.perf_counter()
    for b, item in enumerate(batches):
        aug(*to_device(item, dev)[:2], b)
    return len(batches) * batch / (time.perf_counter() - start)


def train_demand(size: int, batch: int = 32, steps: int = 3) -> float:
    """Images/s of a DeiT-S train step (forward, backward, AdamW) at `size` px on this CPU."""
    import timm

    model = timm.create_model("deit_small_patch16_224", num_classes=8, img_size=size).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = torch.rand(batch, 3, size, size), torch.arange(batch) % 8

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def main(
    images: str = typer.Option("2000,20000", help="training images of each simulated tree, comma-separated"),
    size: int = typer.Option(224, help="stored image side (the paper's 224)"),
    workers: str = typer.Option("1,2", help="prepare.workers to time at the largest tree"),
    keep: Path | None = typer.Option(None, help="work here and keep the trees and stores (default: a temp dir)"),
) -> None:
    sizes = sorted(int(n) for n in images.split(","))
    counts = sorted(int(w) for w in workers.split(","))
    base = Path(keep or tempfile.mkdtemp(prefix="mvt-scale-"))
    result: dict = {"size": size, "cores": len(os.sched_getaffinity(0)), "prepare_peak_rss_mb": {}}
    try:
        for n in sizes:
            tree, work = base / f"tree-{n}", base / f"work-{n}"
            work.mkdir(parents=True, exist_ok=True)
            if not (tree / "training.csv").is_file():
                write_affectnet_tree(tree, n, size)
            runs = counts[::-1] if n == sizes[-1] else counts[-1:]  # the most workers first: its RSS is reported
            for w in runs:
                wall, rss = run_prepare(work, tree, size, w)
                print(f"prepare: {n} images at {size} px, {w} worker(s): {wall:.1f} s, peak RSS {rss:.0f} MB")
                if w == counts[-1]:
                    result["prepare_peak_rss_mb"][n] = round(rss)
                if n == sizes[-1]:
                    result.setdefault("prepare_images_per_s", {})[w] = round((n + TEST_ROWS) / wall, 1)
        store = PreparedStore(base / f"work-{sizes[-1]}" / "data" / "prepared")
        paper = presets.merge(read_yaml(ROOT / "params.yaml"), presets.load("rafdb"))
        augment, patch = AugmentParams(**paper["mvt"]["augment"]), 16  # DeiT-S's patches
        result["loader_images_per_s_per_core"] = round(loader_rate(store, size // patch), 1)
        result["augment_images_per_s_cpu"] = round(augment_rate(store, augment, patch), 1)
        result["train_demand_images_per_s"] = round(train_demand(size), 1)
        result["loader_vs_train_demand"] = round(
            result["loader_images_per_s_per_core"] / result["train_demand_images_per_s"], 2
        )
        rss = result["prepare_peak_rss_mb"]
        if len(rss) > 1:
            result["prepare_rss_ratio_largest_to_smallest"] = round(rss[sizes[-1]] / rss[sizes[0]], 3)
        if len(counts) > 1:
            rates = result["prepare_images_per_s"]
            result["prepare_speedup_most_to_fewest_workers"] = round(rates[counts[-1]] / rates[counts[0]], 3)
        result["augment"] = augment.model_dump()
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    typer.run(main)
