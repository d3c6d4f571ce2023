"""What the two training loops (train_mgn's and train_mvt's) share: the epoch scaffold (resume, per-epoch
seeding, the record's print and checkpoint), the optimisation step and the learning-rate schedule."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler

from ..data.augment import BatchAugment, batch_seed
from ..params import AugmentParams
from . import distributed
from .checkpoint import Resume
from .runtime import loader_workers, to_device


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
    """One optimisation step of `model`: gradients (averaged over processes), the optimiser, the schedule;
    BatchNorm statistics made process 0's, as DDP would."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    distributed.average_gradients(model)
    distributed.sync_buffers(model)
    optimizer.step()
    scheduler.step()


class ClassBalancedSampler(Sampler[int]):
    """Class-balanced oversampling (the paper's AffectNet setting): N draws with replacement, each image
    weighted 1/(count of its class) by `labels` as given at the start. Every process makes the same N draws,
    from a generator seeded by (seed, epoch) alone, and takes every `world`-th of them from its `rank` on:
    under torchrun the processes together train on exactly the draws one process would (N rounded down to
    a multiple of `world`, so that every process takes as many steps)."""

    def __init__(self, labels: np.ndarray, seed: int, rank: int = 0, world: int = 1):
        self.weights = torch.from_numpy(1.0 / np.bincount(labels)[labels])
        self.seed, self.rank, self.world, self.epoch = seed, rank, world, 0
        self.total = len(labels) - len(labels) % world

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.total // self.world

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        draws = torch.multinomial(self.weights, self.total, replacement=True, generator=generator)
        return iter(draws[self.rank :: self.world].tolist())


class TrainLoader:
    """The training batches of an epoch, on the device and augmented there (data/augment.py).

    DataLoader workers (`num_workers`, kept alive between epochs) only read whole batches of uint8 rows and
    per-patch keep grids from the memory-mapped stores; the flip, shift, colour jitter and erasing run
    batched on `dev`, seeded per (epoch seed, batch), so results do not depend on the number of workers.
    The order is a shuffle (under torchrun a DistributedSampler that shares one permutation between the
    processes) or, with `balance` (labels), class-balanced oversampling. `batch_size` is the global batch,
    `batch_key` its params key for errors. Iterating yields (images float in [0, 1],
    keep or None, row index).
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        batch_key: str,
        num_workers: int | None,
        dev: torch.device,
        seed: int,
        augment: AugmentParams | None = None,
        patch_size: int | None = None,
        balance: np.ndarray | None = None,
    ):
        self.dev, self.generator, self.seed = dev, torch.Generator(), seed
        if balance is not None:
            self.order = ClassBalancedSampler(balance, seed, distributed.rank(), distributed.world_size())
        else:
            self.order = distributed.epoch_sampler(dataset, seed) or RandomSampler(dataset, generator=self.generator)
        self.batches = BatchSampler(
            self.order,
            distributed.per_process_batch(batch_size, batch_key),
            drop_last=len(dataset) > batch_size,
        )
        workers = loader_workers(num_workers)
        self.loader = DataLoader(
            dataset,
            sampler=self.batches,
            batch_size=None,  # the sampler hands the dataset whole batches of indices
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=dev.type == "cuda",
            generator=torch.Generator(),  # worker seeds from here, not torch's global stream (dropout's)
        )
        self.augment = BatchAugment(augment, patch_size) if augment is not None else None

    def __len__(self) -> int:
        return len(self.batches)

    def set_epoch(self, epoch: int, seed: int) -> None:
        """Reseed the shuffle and the augmentation for `epoch`, whose seed is `seed`."""
        if hasattr(self.order, "set_epoch"):  # the orders shared between processes
            self.order.set_epoch(epoch)
        self.generator.manual_seed(seed)
        self.seed = seed

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]]:
        for b, batch in enumerate(self.loader):
            images, keep, index = to_device(batch, self.dev)
            if self.augment is not None:
                images, keep = self.augment(images, keep, batch_seed(self.seed, b))
            yield images, keep, index


def run_epochs(
    name: str,
    epochs: int,
    seed: int,
    loader: TrainLoader,
    resume: Resume | None,
    state: dict[str, Any],
    one_epoch: Callable[[int, int, list[dict]], dict],
) -> list[dict]:
    """Run `one_epoch(epoch, seed_e, history) -> record` for every epoch not yet done, and return the records.

    Before each epoch everything random is reseeded from (seed, epoch, rank): the loader's shuffle (the same
    on every process under torchrun) and augmentation, dropout and drop-path (torch's global stream);
    `one_epoch` gets the epoch's seed for its own streams. After it, every object of `state` (name ->
    anything with state_dict / load_state_dict) is checkpointed with the history through `resume`, which a
    rerun continues, and the record is printed as `name key=value ...`.
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
    return history
