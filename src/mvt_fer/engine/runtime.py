"""Process-wide set-up: seeds, determinism, device and precision."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch
from timm.optim import create_optimizer_v2


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch, and make torch pick deterministic kernels: on CUDA that needs cuBLAS's
    fixed workspace, set here before any CUDA call (an explicit CUBLAS_WORKSPACE_CONFIG is kept)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    # warn_only: a kernel with no deterministic variant on some device should not stop a run.
    torch.use_deterministic_algorithms(True, warn_only=True)


def epoch_seed(seed: int, epoch: int) -> int:
    """Everything random in epoch `epoch` follows from this, so an epoch can be replayed alone."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def device() -> torch.device:
    """This process's device: its GPU under torchrun (LOCAL_RANK), the GPU or the CPU otherwise. On a GPU,
    float32 matmuls and convolutions may use TF32 (bf16 autocast covers most of the work anyway)."""
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def loader_workers(requested: int | None) -> int:
    """DataLoader workers: as requested, or (None) the cores this process may use beyond the two its steps
    keep busy, at most 8. On 2 cores that is none: a worker there took the steps' cores (an MGN epoch 74 s
    with one worker, 66 s without)."""
    if requested is not None:
        return requested
    cores = len(os.sched_getaffinity(0)) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(8, cores - 2))


def adamw(model: torch.nn.Module, lr: float, *, weight_decay: float, dev: torch.device) -> torch.optim.Optimizer:
    """timm's AdamW (no weight decay on norms and biases); the fused CUDA kernel on a GPU."""
    return create_optimizer_v2(
        model, "adamw", lr=lr, weight_decay=weight_decay, **({"fused": True} if dev.type == "cuda" else {})
    )


def autocast(dev: torch.device):
    """bf16 autocast on CUDA; plain fp32 on CPU, where bf16 is 2.5-3x slower without bf16 hardware."""
    if dev.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: dict, dev: torch.device) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """(images float in [0, 1], keep mask or None, row index) on `dev`; uint8 travels, floats are made there."""
    non_blocking = dev.type == "cuda"
    images = batch["image"].to(dev, non_blocking=non_blocking).float().div_(255)
    keep = batch.get("keep")
    if keep is not None:
        keep = keep.to(dev, non_blocking=non_blocking)
    return images, keep, batch["index"]
