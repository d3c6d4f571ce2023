"""What the two training loops (train_mgn's and train_mvt's) share: the epoch scaffold (resume, per-epoch
seeding, the record's print and checkpoint), the optimisation step and the learning-rate schedule."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from . import distributed
from .checkpoint import Resume
from .evaluate import make_loader
from .runtime import loader_workers


def epoch_seed(seed: int, epoch: int) -> int:
    """Everything random in epoch `epoch` follows from this, so an epoch can be replayed alone."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def warmup_exp_decay(steps_per_epoch: int, warmup_epochs: int, gamma: float):
    """LR factor per step: linear warm-up, then the paper's exponential decay (x gamma per epoch)."""
    warmup_steps = warmup_epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return gamma ** ((step - warmup_steps) // steps_per_epoch)

    return factor


def update(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler, loss: torch.Tensor) -> None:
    """One optimisation step of `model`: gradients (averaged over processes), the optimiser, the schedule."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    distributed.average_gradients(model)
    optimizer.step()
    scheduler.step()


def train_loader(
    train_set: Dataset,
    batch_size: int,
    batch_key: str,
    num_workers: int | None,
    dev: torch.device,
    seed: int,
    sampler: Callable[[torch.Generator], Sampler | None] | None = None,
) -> tuple[DataLoader, torch.Generator, DistributedSampler | None]:
    """The shuffled training loader, the generator `run_epochs` reseeds for it, and under torchrun the
    sampler that shares one permutation between the processes (else None; then `sampler(generator)`, if
    given, draws the order). `batch_size` is the global batch, `batch_key` its params key for errors."""
    generator = torch.Generator()
    shards = distributed.epoch_sampler(train_set, seed)
    loader = make_loader(
        train_set,
        distributed.per_process_batch(batch_size, batch_key),
        dev,
        shuffle=True,
        num_workers=loader_workers(num_workers),
        generator=generator,
        drop_last=len(train_set) > batch_size,
        sampler=shards or (sampler(generator) if sampler is not None else None),
    )
    return loader, generator, shards


def run_epochs(
    name: str,
    epochs: int,
    seed: int,
    train_set,
    generator: torch.Generator,
    shards: DistributedSampler | None,
    resume: Resume | None,
    state: dict[str, Any],
    one_epoch: Callable[[int, int, list[dict]], dict],
) -> list[dict]:
    """Run `one_epoch(epoch, seed_e, history) -> record` for every epoch not yet done, and return the records.

    Before each epoch everything random is reseeded from (seed, epoch, rank): the shuffle (`generator`, the
    same on every process through `shards`), the augmentation per row (`train_set.set_seed`), dropout and
    drop-path (torch's global stream); `one_epoch` gets the epoch's seed for its own streams. After it, every
    object of `state` (name -> anything with state_dict / load_state_dict) is checkpointed with the
    history through `resume`, which a rerun continues, and the record is printed as `name key=value ...`.
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
        if shards is not None:
            shards.set_epoch(epoch)
        generator.manual_seed(seed_e)  # shuffling order and worker seeds
        train_set.set_seed(seed_e)  # augmentation, per row (the same with any num_workers)
        torch.manual_seed(seed_e)  # dropout / drop-path
        record = one_epoch(epoch, seed_e, history)
        history.append(record)
        if resume is not None:
            resume.save({"epoch": epoch + 1} | {k: obj.state_dict() for k, obj in state.items()} | {"history": history})
        if distributed.is_main():
            summary = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
            print(f"{name} {summary} ({time.perf_counter() - start:.1f}s)", flush=True)
    return history
