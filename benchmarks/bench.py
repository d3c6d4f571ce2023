"""Throughput benchmarks, each a ratio against a baseline measured in the same run.

    python benchmarks/bench.py [--images N] [--repeats R]     (make bench)

Prints one line per benchmark and ends with one JSON object of the ratios (baseline time / our time, so
1.0 = no overhead; for the loader, its throughput / the train step's demand, so > 1 = not the bottleneck):

    train_step_vs_timm      train_mvt's update on a collated batch vs a bare timm ViT step
    masks_vs_forward        the masks stage's inference path vs a bare forward of G
    mgn_step_vs_bare        train_mgn's adversarial D + G updates vs the bare forwards/backwards they need
    loader_vs_train_demand  train_mvt's data path (rows, masks, batched augmentation) vs the train step's images/s
    ddp_step_vs_single      train_mvt's step under DDP in 2 gloo processes (half the batch each) vs one process
    mgn_manual_vs_ddp       train_mgn's D + G updates in 2 gloo processes: its hand all-reduce vs DDP per network
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
import typer

from mvt_fer.data import synthetic
from mvt_fer.data.dataset import ImageDataset
from mvt_fer.engine.inference import generate_masks
from mvt_fer.masking import MaskSpec
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
                G(uint8[i : i + batch].float().div_(255))

    def stage():
        generate_masks(G, dataset, batch, dev=dev)

    bare(), stage()  # warm-up
    t_bare, t_stage = _best_of([bare, stage], repeats)
    n = len(images)
    print(f"masks stage: {n / t_stage:.0f} img/s; bare G forward: {n / t_bare:.0f} img/s; ratio {t_bare / t_stage:.3f}")
    return t_bare / t_stage


def _masked_dataset(p: Params, images: np.ndarray) -> ImageDataset:
    """The training Dataset over `images` with MGN-like keep masks (random Mp, `mask_ratio` erased)."""
    from mvt_fer.masking import keep_grid

    patch = p.model.patch_size or 16
    grid = images.shape[1] // patch
    mp = np.random.default_rng(0).random((len(images), grid, grid)).astype(np.float16)
    return ImageDataset(images, keep_grid(mp, "show", p.mask_ratio))


def _collated(dataset: ImageDataset, batch: int) -> list[dict]:
    """Full batches as the training loader's workers hand them over (uint8 images, keep grids, index)."""
    return [dataset[list(range(j, j + batch))] for j in range(0, len(dataset) - batch + 1, batch)]


def train_step_vs_timm(p: Params, images: np.ndarray, repeats: int) -> tuple[float, float]:
    """Our train_mvt update (`classifier_step` after `to_device`: uint8 -> float, keep-mask applied and
    normalisation inside the model, loss checked, AdamW step, LR schedule) vs a bare timm step on the same
    ViT: forward on ready normalised float input, cross-entropy, backward, AdamW step.
    Returns (ratio, our images/s)."""
    from timm.optim import create_optimizer_v2

    from mvt_fer.engine.runtime import to_device
    from mvt_fer.engine.train import classifier_step
    from mvt_fer.models import create_backbone, create_classifier

    torch.manual_seed(0)
    dev, size, batch = torch.device("cpu"), images.shape[1], p.mvt.batch_size
    batches = _collated(_masked_dataset(p, images), batch)
    targets = torch.from_numpy(np.arange(len(images)) % 7)
    model = create_classifier(p.model, 7, size).train()
    opt = create_optimizer_v2(model, "adamw", lr=p.mvt.lr, weight_decay=p.mvt.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    bare_model = create_backbone(p.model, 7, size).train()  # the timm ViT itself, our stem included
    bare_opt = torch.optim.AdamW(bare_model.parameters(), lr=p.mvt.lr, weight_decay=p.mvt.weight_decay)
    ready = [((b["image"].float() / 255 - 0.5) / 0.5, targets[b["index"]]) for b in batches]

    def ours():
        for b in batches:
            images_, keep, index = to_device(b, dev)
            classifier_step(model, opt, sched, images=images_, keep=keep, targets=targets[index])

    def bare():
        for x, y in ready:
            loss = torch.nn.functional.cross_entropy(bare_model(x), y)
            bare_opt.zero_grad(set_to_none=True)
            loss.backward()
            bare_opt.step()

    ours(), bare()  # warm-up
    t_bare, t_ours = _best_of([bare, ours], repeats)
    n = len(batches) * batch
    print(
        f"train_mvt step: {n / t_ours:.0f} img/s; bare timm step: {n / t_bare:.0f} img/s; ratio {t_bare / t_ours:.3f}"
    )
    return t_bare / t_ours, n / t_ours


def mgn_step_vs_bare(p: Params, images: np.ndarray, repeats: int) -> float:
    """train_mgn's adversarial updates (`discriminator_step` then `generator_step`, as fit_mgn runs them)
    vs the bare forwards and backwards they cannot avoid: G forward, D forward/backward on the two views
    and its AdamW step; G forward/backward with D forward on its `mgn.samples` views and G's AdamW step."""
    from timm.optim import create_optimizer_v2

    from mvt_fer.engine.mgn import discriminator_step, generator_step
    from mvt_fer.masking import random_patch_mask
    from mvt_fer.models import create_classifier

    torch.manual_seed(0)
    size, batch, spec = images.shape[1], p.mgn.batch_size, MaskSpec.of(p)
    G = create_generator(p.model, p.mgn.depth, size)
    D = create_classifier(p.model, 7, size)
    opt_d = create_optimizer_v2(D, "adamw", lr=p.mgn.lr_d, weight_decay=p.mgn.weight_decay)
    opt_g = create_optimizer_v2(G, "adamw", lr=p.mgn.lr_g, weight_decay=p.mgn.weight_decay)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, lambda step: 1.0)
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, lambda step: 1.0)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(np.arange(len(images)) % 7)
    chunks = [(x[i : i + batch], y[i : i + batch]) for i in range(0, len(x) - batch + 1, batch)]
    rng = torch.Generator().manual_seed(0)

    def ours():
        for xb, yb in chunks:
            r = random_patch_mask(len(yb), G.vit.patch_embed.num_patches, spec.ratio, rng)
            discriminator_step(
                G, D, xb, labels=yb, r=r, optimizer=opt_d, scheduler=sched_d, spec=spec, rng=rng, warmup=False
            )
            generator_step(G, D, xb, optimizer=opt_g, scheduler=sched_g, spec=spec, samples=p.mgn.samples, rng=rng)

    def bare():
        for xb, yb in chunks:
            with torch.no_grad():
                G(xb)
            D.train()
            loss = torch.nn.functional.cross_entropy(D.backbone(torch.cat([xb, xb])), torch.cat([yb, yb]))
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
            G.train(), D.eval()
            with torch.no_grad():
                D.backbone(xb.repeat(p.mgn.samples, 1, 1, 1))
            loss = G.logits(xb).mean()
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()

    ours(), bare()
    t_bare, t_ours = _best_of([bare, ours], repeats)
    n = len(chunks) * batch
    print(
        f"train_mgn adversarial step: {n / t_ours:.0f} img/s; bare: {n / t_bare:.0f} img/s; ratio {t_bare / t_ours:.3f}"
    )
    return t_bare / t_ours


def loader_vs_train_demand(p: Params, images: np.ndarray, step_rate: float) -> float:
    """Images/s of train_mvt's data path on this CPU as the device (TrainLoader: `mvt.num_workers` workers
    reading batches of rows and keep grids, the augmentation batched in this process) over one pass,
    against the images/s the train step consumes (`step_rate`)."""
    from mvt_fer.data.loader import TrainLoader

    dev = torch.device("cpu")
    patch = p.model.patch_size or 16
    loader = TrainLoader(
        _masked_dataset(p, images),
        p.mvt.batch_size,
        batch_key="mvt.batch_size",
        num_workers=p.mvt.num_workers,
        dev=dev,
        seed=0,
        augment=p.mvt.augment,
        patch_size=patch,
    )
    loader.set_epoch(0, 0)
    for _ in loader:  # warm-up (worker start)
        break
    start = time.perf_counter()
    n = sum(len(index) for _, _, index in loader)
    rate = n / (time.perf_counter() - start)
    workers = loader.loader.num_workers
    print(
        f"loader (rows + keep grids, {workers} workers; masks and augmentation batched on the CPU): {rate:.0f} "
        f"img/s; train step demand {step_rate:.0f} img/s; ratio {rate / step_rate:.3f}"
    )
    return rate / step_rate


def _ddp_worker(rank: int, port: int, p: Params, images: np.ndarray, repeats: int, out) -> None:
    import torch.distributed as dist

    from mvt_fer.engine import distributed
    from mvt_fer.engine.train import classifier_step
    from mvt_fer.models import create_classifier

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.set_num_threads(1)  # two processes on two cores
    torch.manual_seed(0)
    model = create_classifier(p.model, 7, images.shape[1]).train()
    step_model = distributed.ddp(model, torch.device("cpu"))
    opt = torch.optim.AdamW(model.parameters(), lr=p.mvt.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    half = p.mvt.batch_size // 2
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(np.arange(len(images)) % 7)
    mine = [slice(j + rank * half, j + rank * half + half) for j in range(0, len(images) - 2 * half + 1, 2 * half)]

    def ours():
        for s in mine:  # this process's half of each global batch: both take the same number of steps
            classifier_step(step_model, opt, sched, images=x[s], keep=None, targets=y[s])

    ours()
    dist.barrier()
    out[rank] = _best_of([ours], repeats)[0]
    dist.destroy_process_group()


def ddp_step_vs_single(p: Params, images: np.ndarray, repeats: int) -> float:
    """train_mvt's step under DistributedDataParallel in 2 gloo processes (one thread each, half the batch
    each) against one process (both cores) on the whole batch: the same global batches, images/s ratio."""
    import torch.multiprocessing as mp

    from mvt_fer.engine.train import classifier_step
    from mvt_fer.models import create_classifier

    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_ddp_worker, args=(_free_port(), p, images, repeats, out), nprocs=2)
        t_ddp = max(out[0], out[1])
    torch.manual_seed(0)
    model = create_classifier(p.model, 7, images.shape[1]).train()
    opt = torch.optim.AdamW(model.parameters(), lr=p.mvt.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(np.arange(len(images)) % 7)
    batch = p.mvt.batch_size

    def single():
        for j in range(0, len(images) - batch + 1, batch):
            classifier_step(model, opt, sched, images=x[j : j + batch], keep=None, targets=y[j : j + batch])

    single()
    t_single = _best_of([single], repeats)[0]
    n = (len(images) // batch) * batch
    print(
        f"train_mvt step, 2 DDP processes: {n / t_ddp:.0f} img/s; one process: {n / t_single:.0f} img/s; "
        f"ratio {t_single / t_ddp:.3f}"
    )
    return t_single / t_ddp


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Logits(torch.nn.Module):
    """G's pre-sigmoid scores as a forward, the one call whose backward G's update needs."""

    def __init__(self, G):
        super().__init__()
        self.G = G

    def forward(self, images):
        return self.G.logits(images)


def _mgn_ddp_worker(rank: int, port: int, p: Params, images: np.ndarray, repeats: int, out) -> None:
    """In each of 2 processes: train_mgn's D + G updates on this process's half of each batch, as fit_mgn
    runs them (gradients averaged by `average_gradients`), against the same updates with each network under
    its own DistributedDataParallel, called only in the step that updates it (D's step through DDP(D), G's
    through DDP(G.logits); G's no-grad forward in D's step and D's frozen forward in G's step unwrapped)."""
    import torch.distributed as dist
    from timm.optim import create_optimizer_v2
    from torch.nn.parallel import DistributedDataParallel

    from mvt_fer.engine.mgn import discriminator_step, generator_step
    from mvt_fer.masking import random_patch_mask
    from mvt_fer.models import create_classifier

    class LogitsDDP(DistributedDataParallel):
        """DDP(G.logits) that generator_step can take for G (G.logits, temperature, patch_size, grid)."""

        def logits(self, images):
            return self(images)

        temperature = property(lambda self: self.module.G.temperature)
        patch_size = property(lambda self: self.module.G.patch_size)
        grid = property(lambda self: self.module.G.grid)

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.set_num_threads(1)  # two processes on two cores
    torch.manual_seed(0)
    size, spec, half = images.shape[1], MaskSpec.of(p), p.mgn.batch_size // 2

    def networks(model):
        torch.manual_seed(0)
        return create_generator(model, p.mgn.depth, size), create_classifier(model, 7, size)

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(np.arange(len(images)) % 7)
    mine = [slice(j + rank * half, j + rank * half + half) for j in range(0, len(images) - 2 * half + 1, 2 * half)]

    def setup(wrap: bool, opt: str = "adamw", model=p.model):
        G, D = networks(model)
        opts = [
            create_optimizer_v2(net, opt, lr=lr, weight_decay=p.mgn.weight_decay)
            for net, lr in ((D, p.mgn.lr_d), (G, p.mgn.lr_g))
        ]
        scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda step: 1.0) for o in opts]
        d_step = DistributedDataParallel(D) if wrap else D
        g_step = LogitsDDP(_Logits(G)) if wrap else G
        rng = torch.Generator().manual_seed(rank)

        def run(steps=mine):
            for s in steps:
                r = random_patch_mask(half, G.vit.patch_embed.num_patches, spec.ratio, rng)
                discriminator_step(
                    G,
                    d_step,
                    x[s],
                    labels=y[s],
                    r=r,
                    optimizer=opts[0],
                    scheduler=scheds[0],
                    spec=spec,
                    rng=rng,
                    warmup=False,
                )
                generator_step(
                    g_step, D, x[s], optimizer=opts[1], scheduler=scheds[1], spec=spec, samples=p.mgn.samples, rng=rng
                )

        return run, G, D

    # Both make the same updates: two of each from the same weights give the same weights. With SGD, since
    # AdamW's first step is lr * sign(g) and a gradient that is zero up to rounding has no stable sign; with
    # the patch stem, since DDP broadcasts BatchNorm statistics before D's step, the hand path after it; and
    # no drop path, whose draws come from the global generator.
    patch = p.model.model_copy(update={"stem": "patch", "drop_path_rate": 0.0})
    (manual, G_m, D_m), (ddp, G_d, D_d) = setup(False, "sgd", patch), setup(True, "sgd", patch)
    manual(mine[:2]), ddp(mine[:2])
    pairs = zip([*G_m.parameters(), *D_m.parameters()], [*G_d.parameters(), *D_d.parameters()])
    gap = max((a - b).abs().max().item() for a, b in pairs)
    (manual, *_), (ddp, *_) = setup(False), setup(True)
    manual(), ddp()  # warm-up
    dist.barrier()
    out[rank] = (*_best_of([manual, ddp], repeats), gap)
    dist.destroy_process_group()


def mgn_manual_vs_ddp(p: Params, images: np.ndarray, repeats: int) -> float:
    """train_mgn's adversarial updates in 2 gloo processes (one thread and half of each batch each): its
    hand all-reduce (one flattened all-reduce per update) against DDP per network; time ratio DDP / manual,
    so > 1 = the hand all-reduce is faster."""
    import torch.multiprocessing as mp

    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_mgn_ddp_worker, args=(_free_port(), p, images, repeats, out), nprocs=2)
        t_manual, t_ddp = (max(out[0][i], out[1][i]) for i in (0, 1))
        gap = max(out[0][2], out[1][2])
    n = (len(images) // p.mgn.batch_size) * p.mgn.batch_size
    print(
        f"train_mgn D + G updates, 2 processes: hand all-reduce {n / t_manual:.0f} img/s; DDP per network "
        f"{n / t_ddp:.0f} img/s; ratio {t_ddp / t_manual:.3f} (SGD weights after 2 updates of each differ by {gap:.1e})"
    )
    return t_ddp / t_manual


def predict_latency(images: np.ndarray, repeats: int) -> dict:
    """Milliseconds per face of predict's model call (G + classifier from models/*.pt), one face at a time
    and in batches of 64, for the PyTorch and the ONNX Runtime backends (exported here, to a temp file)."""
    import tempfile
    from pathlib import Path

    from mvt_fer.predictor import OnnxBackend, TorchBackend, export_onnx

    if not Path("models/mvt.pt").is_file():
        print("predict latency: skipped (no models/mvt.pt; run dvc repro first)")
        return {}
    torch_backend = TorchBackend("models/mvt.pt", "models/mgn.pt")
    size = torch_backend.image_size
    faces = np.ascontiguousarray(images[:64, :size, :size].transpose(0, 3, 1, 2), dtype=np.float32) / 255
    with tempfile.TemporaryDirectory() as tmp:
        export_onnx(torch_backend.predictor, torch_backend.classes, size, Path(tmp) / "m.onnx", images[:16])
        onnx_backend = OnnxBackend(Path(tmp) / "m.onnx")
        out = {}
        for name, backend in (("torch", torch_backend), ("onnx", onnx_backend)):
            single = lambda backend=backend: [backend(faces[i : i + 1]) for i in range(16)]  # noqa: E731
            batched = lambda backend=backend: backend(faces)  # noqa: E731
            single(), batched()
            t_single, t_batched = _best_of([single, batched], repeats)
            out[f"predict_ms_per_face_{name}"] = round(1000 * t_single / 16, 3)
            out[f"predict_ms_per_face_{name}_batch64"] = round(1000 * t_batched / len(faces), 3)
            print(
                f"predict ({name}): {out[f'predict_ms_per_face_{name}']:.2f} ms per face alone, "
                f"{out[f'predict_ms_per_face_{name}_batch64']:.3f} ms per face in batches of 64"
            )
    return out


def main(
    params: str = typer.Option("params.yaml", help="params file (model and batch sizes)"),
    images: int = typer.Option(2048, help="synthetic images to time over"),
    repeats: int = typer.Option(10, help="timed repeats, taking turns; the best of each is kept"),
) -> None:
    p = load_params(params)
    data = synthetic.generate_split(p.seed, "test", images, p.prepare.image_size, p.prepare.synthetic).images
    train_ratio, step_rate = train_step_vs_timm(p, data, repeats)
    ratios = {
        "train_step_vs_timm": round(train_ratio, 3),
        "masks_vs_forward": round(masks_vs_forward(p, data, repeats), 3),
        "mgn_step_vs_bare": round(mgn_step_vs_bare(p, data, repeats), 3),
        "loader_vs_train_demand": round(loader_vs_train_demand(p, data, step_rate), 3),
        "ddp_step_vs_single": round(ddp_step_vs_single(p, data, repeats), 3),
        "mgn_manual_vs_ddp": round(mgn_manual_vs_ddp(p, data[:512], repeats), 3),
    } | predict_latency(data, repeats)
    print(json.dumps(ratios, sort_keys=True))


if __name__ == "__main__":
    typer.run(main)
