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


def _best_of(fns, repeats: int) -> list[float]:
    """Best wall time of each function, the functions taking turns so that drift in machine load
    falls on all of them alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def masks_vs_forward(p: Params, images: np.ndarray, repeats: int) -> float:
    """The masks stage's inference path vs a bare forward of G over the same images.

    Stage: `generate_masks` (batches sliced from the store, uint8 -> float on the device, G, float16 grid,
    concatenated). Bare: G on each batch of the same uint8 array, converted to float in [0, 1] as G's
    input must be, nothing else.
    """
    torch.manual_seed(0)
    G = create_generator(p.model, p.mgn.depth, images.shape[1]).eval()
    dev = torch.device("cpu")
    dataset = ImageDataset(images)
    batch = p.masks.batch_size
    uint8 = torch.from_numpy(images).permute(0, 3, 1, 2)

    def bare():
        with torch.inference_mode():
            for i in range(0, len(uint8), batch):
                G(uint8[i:i + batch].float().div_(255))

    def stage():
        generate_masks(G, dataset, batch, dev)

    bare(), stage()  # warm-up
    t_bare, t_stage = _best_of([bare, stage], repeats)
    n = len(images)
    print(f"masks stage: {n / t_stage:.0f} img/s; bare G forward: {n / t_bare:.0f} img/s; ratio {t_bare / t_stage:.3f}")
    return t_bare / t_stage


def main(params: str = typer.Option("params.yaml", help="params file (model and batch sizes)"),
         images: int = typer.Option(2048, help="synthetic images to time over"),
         repeats: int = typer.Option(10, help="timed repeats, taking turns; the best of each is kept")) -> None:
    p = load_params(params)
    data = synthetic.generate_split(p.seed, "test", images, p.prepare.image_size, p.prepare.synthetic).images
    ratios = {"masks_vs_forward": round(masks_vs_forward(p, data, repeats), 3)}
    print(json.dumps(ratios, sort_keys=True))


if __name__ == "__main__":
    typer.run(main)
