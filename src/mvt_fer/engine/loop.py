"""What the two training loops (train_mgn's and train_mvt's) share: the epoch scaffold (resume, per-epoch
seeding, the record's print, checkpoint and live curves), the optimisation step and the learning-rate
schedule. Their batches come from data/loader.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from . import distributed
from .checkpoint import Resume
from .runtime import epoch_seed

if TYPE_CHECKING:
    from ..data.loader import TrainLoader


def warmup_exp_decay(steps_per_epoch: int, warmup_epochs: int, gamma: float):
    """LR factor per step: linear warm-up, then the paper's exponential decay (x gamma per epoch)."""
    warmup_steps = warmup_epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return gamma ** ((step - warmup_steps) // steps_per_epoch)

    return factor


def update(model: torch.nn.Module, loss: torch.Tensor, *, optimizer: torch.optim.Optimizer, scheduler) -> None:
    """One optimisation step of `model`: gradients (averaged over processes), the optimiser, the schedule;
    BatchNorm statistics made process 0's, as DDP would."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    distributed.average_gradients(model)
    distributed.sync_buffers(model)
    optimizer.step()
    scheduler.step()


def run_epochs(
    name: str,
    epochs: int,
    *,
    seed: int,
    loader: TrainLoader,
    resume: Resume | None,
    state: dict[str, Any],
    one_epoch: Callable[[int, int, list[dict]], dict],
    on_epoch: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """Run `one_epoch(epoch, seed_e, history) -> record` for every epoch not yet done, and return the records.

    Before each epoch everything random is reseeded from (seed, epoch, rank): the loader's shuffle (the same
    on every process under torchrun) and augmentation, dropout and drop-path (torch's global stream);
    `one_epoch` gets the epoch's seed for its own streams. After it, every object of `state` (name ->
    anything with state_dict / load_state_dict) is checkpointed with the history through `resume`, which a
    rerun continues, the record is printed as `name key=value ...`, and `on_epoch` (the live curves) gets
    the records so far; the last two on process 0 only.
    """
    history, first_epoch = [], 0
    saved = resume.load() if resume is not None else None
    if saved is not None:
        for key, obj in state.items():  # in the given order: an optimiser before its schedule
            obj.load_state_dict(saved[key])
        history, first_epoch = list(saved["history"]), saved["epoch"]
    for epoch in range(first_epoch, epochs):
        start = time.perf_counter()
        seed_e = epoch_seed(seed, epoch) + distributed.rank()  # each process its own augmentation and dropout
        loader.set_epoch(epoch, seed_e)
        torch.manual_seed(seed_e)  # dropout / drop-path
        record = one_epoch(epoch, seed_e, history)
        history.append(record)
        if resume is not None:
            resume.save({"epoch": epoch + 1} | {k: obj.state_dict() for k, obj in state.items()} | {"history": history})
        if distributed.is_main():
            summary = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
            print(f"{name} {summary} ({time.perf_counter() - start:.1f}s)", flush=True)
            if on_epoch is not None:
                on_epoch(history)
    return history
