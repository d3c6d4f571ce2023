"""Training batches: the order of an epoch (a shuffle shared between processes, or class-balanced
oversampling) and the loader that reads whole batches of rows and moves them to the device, where they are
augmented."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler

from ..engine import distributed
from ..engine.runtime import epoch_seed, loader_workers, to_device
from ..params import AugmentParams
from .augment import BatchAugment, batch_seed


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
        *,
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
