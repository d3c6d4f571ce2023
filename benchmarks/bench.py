"""Throughput benchmarks, each a ratio against a bare baseline measured in the same run.

    python benchmarks/bench.py [--images N] [--repeats R]

Prints one line per benchmark and ends with one JSON object of the ratios. Ratios near 1.0 mean the
pipeline's path costs no more than the bare model call it wraps.
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
import typer

from mvt_fer.data import synthetic
from mvt_fer.data.dataset import ImageDataset
from mvt_fer.engine.mgn import generate_masks
from mvt_fer.models import create_generator
from mvt_fer.params import Params, load_params


def _best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def masks_vs_forward(p: Params, images: np.ndarray, repeats: int) -> float:
    """The masks stage's inference path (Dataset -> DataLoader -> G -> float16 grid) vs G on a ready tensor."""
    torch.manual_seed(0)
    G = create_generator(p.model, p.mgn.depth, images.shape[1]).eval()
    dev = torch.device("cpu")
    dataset = ImageDataset(images)
    batch = p.masks.batch_size
    ready = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)

    def bare():
        with torch.inference_mode():
            for i in range(0, len(ready), batch):
                G(ready[i:i + batch])

    def stage():
        generate_masks(G, dataset, batch, dev)

    bare(), stage()  # warm-up
    t_bare, t_stage = _best_of(bare, repeats), _best_of(stage, repeats)
    n = len(images)
    print(f"masks stage: {n / t_stage:.0f} img/s; bare G forward: {n / t_bare:.0f} img/s; ratio {t_bare / t_stage:.3f}")
    return t_bare / t_stage


def main(params: str = typer.Option("params.yaml", help="params file (model and batch sizes)"),
         images: int = typer.Option(2048, help="synthetic images to time over"),
         repeats: int = typer.Option(3, help="timed repeats; the best is kept")) -> None:
    p = load_params(params)
    data = synthetic.generate_split(p.seed, "test", images, p.prepare.image_size, p.prepare.synthetic).images
    ratios = {"masks_vs_forward": round(masks_vs_forward(p, data, repeats), 3)}
    print(json.dumps(ratios, sort_keys=True))


if __name__ == "__main__":
    typer.run(main)
