"""Inference over a dataset."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from .runtime import autocast, to_device


def make_loader(dataset: Dataset, batch_size: int, dev: torch.device, *, shuffle: bool = False,
                num_workers: int = 0, generator: torch.Generator | None = None, drop_last: bool = False) -> DataLoader:
    from ..data.dataset import seed_worker

    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        generator=generator,
        worker_init_fn=seed_worker if num_workers else None,
        pin_memory=dev.type == "cuda",
        drop_last=drop_last,
    )


@torch.inference_mode()
def predict(model: torch.nn.Module, dataset: Dataset, batch_size: int, dev: torch.device,
            num_workers: int = 0, desc: str | None = None) -> np.ndarray:
    """Class probabilities (N, K), float32, in dataset order."""
    model.eval()
    out = []
    loader = make_loader(dataset, batch_size, dev, num_workers=num_workers)
    for batch in tqdm(loader, desc=desc, disable=None if desc else True, leave=False):
        images, keep, _ = to_device(batch, dev)
        with autocast(dev):
            logits = model(images, keep)
        out.append(logits.float().softmax(-1).cpu())
    return torch.cat(out).numpy()
