"""One-script device check: the paper's configuration (DeiT-S, 224 px, G on its first 6 blocks, batch 32)
on synthetic images, timing the three heavy stages' inner steps on whatever device there is.

    python benchmarks/device_check.py [--images 512] [--compile]

Prints images/s for train_mgn (adversarial D + G updates), masks (G inference) and train_mvt (classifier
updates on batches already on the device; and `train_mvt_loader`, the same updates fed by the real data
path: TrainLoader's workers reading uint8 rows and keep grids, the rafdb preset's augmentation batched on
the device; `loader_vs_ready` is their ratio), with bf16 autocast, TF32 and fused AdamW where the device
is a GPU, and ends with one JSON object. Weights are random (no download): throughput does not depend on
them. Sized to finish in well under 10 minutes on one GPU; on this project's 2-core CPU use --images 16.
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
import typer

from mvt_fer.data import synthetic
from mvt_fer.data.dataset import ImageDataset
from mvt_fer.data.loader import TrainLoader
from mvt_fer.engine import runtime
from mvt_fer.engine.inference import generate_masks
from mvt_fer.engine.mgn import discriminator_step, generator_step
from mvt_fer.engine.train import classifier_step
from mvt_fer.masking import MaskSpec, keep_grid, random_patch_mask
from mvt_fer.models import create_classifier, create_generator
from mvt_fer.params import AugmentParams, MgnParams, ModelParams, SyntheticParams

# The paper presets' model: 16 px patches, 384 wide, 12 blocks, 6 heads (the demo's small overrides unset).
DEIT_S = ModelParams(
    name="deit_small_patch16_224",
    img_size=None,
    patch_size=None,
    embed_dim=None,
    depth=None,
    num_heads=None,
    stem="patch",
)


def _rate(fn, n: int, dev: torch.device) -> float:
    fn()  # warm-up (and compilation)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    start = time.perf_counter()
    fn()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return n / (time.perf_counter() - start)


def main(
    images: int = typer.Option(512, help="synthetic 224 px images per timed pass"),
    batch_size: int = typer.Option(32, help="batch size (the paper's 32)"),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the classifier"),
) -> None:
    runtime.seed_everything(0)
    dev = runtime.device()
    data = synthetic.generate_split(0, "test", images, 224, SyntheticParams()).images
    x = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous().to(dev)
    y = torch.arange(images, device=dev) % 7
    batches = [(x[i : i + batch_size].float() / 255, y[i : i + batch_size]) for i in range(0, images, batch_size)]
    mgn = MgnParams(depth=6, batch_size=batch_size)
    G = create_generator(DEIT_S, mgn.depth, 224).to(dev)
    D = create_classifier(DEIT_S, 7, 224).to(dev)
    clf = create_classifier(DEIT_S, 7, 224).to(dev)
    opt_d, opt_g, opt_c = (runtime.adamw(m, 1e-4, weight_decay=0.05, dev=dev) for m in (D, G, clf))
    flat = [torch.optim.lr_scheduler.LambdaLR(o, lambda step: 1.0) for o in (opt_d, opt_g, opt_c)]
    step_clf = torch.compile(clf) if compile else clf
    rng = torch.Generator().manual_seed(0)  # masks are drawn on the CPU stream, as in fit_mgn
    spec = MaskSpec("show", 0.15)
    keep = torch.from_numpy(
        keep_grid(np.random.default_rng(0).random((images, 14, 14)).astype(np.float16), "show", 0.15)
    ).to(dev)

    def mgn_pass():
        for xb, yb in batches:
            r = random_patch_mask(len(yb), G.vit.patch_embed.num_patches, 0.15, rng, dev)
            discriminator_step(
                G, D, xb, labels=yb, r=r, optimizer=opt_d, scheduler=flat[0], spec=spec, rng=rng, warmup=False
            )
            generator_step(G, D, xb, optimizer=opt_g, scheduler=flat[1], spec=spec, samples=mgn.samples, rng=rng)

    def masks_pass():
        generate_masks(G, ImageDataset(data), 256, dev=dev)

    def mvt_pass():
        clf.train()
        for i, (xb, yb) in enumerate(batches):
            classifier_step(
                step_clf, opt_c, flat[2], images=xb, keep=keep[i * batch_size : (i + 1) * batch_size], targets=yb
            )

    grid = keep_grid(np.random.default_rng(0).random((images, 14, 14)).astype(np.float16), "show", 0.15)
    augment = AugmentParams(random_erasing=0.25)  # the rafdb preset's: flips, colour jitter, erasing
    loader = TrainLoader(
        ImageDataset(data, grid),
        batch_size,
        batch_key="batch",
        num_workers=None,
        dev=dev,
        seed=0,
        augment=augment,
        patch_size=16,
    )

    def mvt_loader_pass():
        clf.train()
        for xb, kb, index in loader:
            classifier_step(step_clf, opt_c, flat[2], images=xb, keep=kb, targets=y[index.to(dev)])

    result = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "model": "deit_small_patch16_224",
        "image_size": 224,
        "batch_size": batch_size,
        "compile": compile,
    }
    passes = {"train_mgn": mgn_pass, "masks": masks_pass, "train_mvt": mvt_pass, "train_mvt_loader": mvt_loader_pass}
    for name, fn in passes.items():
        result[f"{name}_img_per_s"] = round(_rate(fn, images, dev), 1)
        print(f"{name}: {result[f'{name}_img_per_s']} img/s", flush=True)
    result["loader_vs_ready"] = round(result["train_mvt_loader_img_per_s"] / result["train_mvt_img_per_s"], 3)
    result["loader_workers"] = loader.loader.num_workers
    if dev.type == "cuda":
        result["max_memory_gib"] = round(torch.cuda.max_memory_allocated(dev) / 2**30, 2)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    typer.run(main)
