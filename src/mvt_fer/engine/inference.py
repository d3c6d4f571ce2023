"""Inference over a dataset: the classifier's probabilities, and G's masks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from ..data.augment import translate
from ..data.dataset import ImageDataset
from ..masking import as_grid, up
from ..models import MaskGenerator
from .runtime import autocast, to_device


def inference_batches(dataset: ImageDataset, batch_size: int, dev: torch.device, *, desc: str | None = None):
    """(images, keep, index) of un-augmented batches on `dev`, in order; a progress bar when `desc` is given."""
    total = -(-len(dataset) // batch_size)
    for batch in tqdm(dataset.batches(batch_size), total=total, desc=desc, disable=None if desc else True, leave=False):
        yield to_device(batch, dev)


def tta_views(images: torch.Tensor, keep: torch.Tensor | None, *, flip: bool, shifts: Sequence[int], patch_size: int):
    """The (images, keep) views test-time augmentation averages over: the batch, its mirror with `flip`, and
    each of those moved by +-s whole pixels left, right, up and down for every s in `shifts` (black border in,
    as the training augmentation's shifts). A keep-mask is mirrored and moved with its image (per pixel once
    moved), so a masked patch stays on the face region it was computed for."""
    bases = [(images, keep)]
    if flip:
        bases.append((images.flip(-1), None if keep is None else keep.flip(-1)))
    yield from bases
    n, dev = len(images), images.device
    for dx, dy in [move for s in shifts for move in ((s, 0), (-s, 0), (0, s), (0, -s))]:
        moved = torch.full((n,), dx, device=dev), torch.full((n,), dy, device=dev)
        for x, k in bases:
            yield translate(x, *moved), None if k is None else translate(up(k, patch_size), *moved)


@torch.inference_mode()
def predict(
    model: torch.nn.Module,
    dataset: ImageDataset,
    batch_size: int,
    *,
    dev: torch.device,
    desc: str | None = None,
    tta: bool = False,
    shifts: Sequence[int] = (),
) -> np.ndarray:
    """Class probabilities (N, K), float32, in dataset order; with `tta` and/or `shifts` the mean over each
    image's `tta_views` (`evaluate.tta`, `evaluate.tta_shifts`)."""
    model.eval()
    out = []
    for images, keep, _ in inference_batches(dataset, batch_size, dev, desc=desc):
        # One view (no tta, no shifts) is the plain forward pass: sum([p]) / 1 is p, bit for bit.
        views = tta_views(images, keep, flip=tta, shifts=shifts, patch_size=model.patch_size)
        with autocast(dev):
            probs = [model(x, k).float().softmax(-1) for x, k in views]
        out.append((sum(probs) / len(probs)).cpu())
    return torch.cat(out).numpy()


def prior_adjusted(probs: np.ndarray, train_counts: np.ndarray, tau: float) -> np.ndarray:
    """Scores whose argmax is the decision: log p(y|x) - tau log pi_y, pi the training class frequencies
    (Menon et al., 2021, "Long-tail learning via logit adjustment", post-hoc form). tau 1 divides the training
    prior out (the Bayes rule for the class-balanced error); tau 0 returns `probs` untouched. A class never
    seen in training keeps its plain score (its log prior would be -inf)."""
    if tau == 0:
        return probs
    prior = train_counts / train_counts.sum()
    shift = np.where(train_counts > 0, tau * np.log(np.maximum(prior, 1e-12)), 0.0)
    return np.log(np.maximum(probs, 1e-12)) - shift


@torch.inference_mode()
def generate_masks(
    G: MaskGenerator, dataset: ImageDataset, batch_size: int, *, dev: torch.device, desc: str | None = None
) -> np.ndarray:
    """Mp for every image of `dataset`, as float16 (N, h, w), in dataset order."""
    G.eval()
    out = []
    for images, _, _ in inference_batches(dataset, batch_size, dev, desc=desc):
        with autocast(dev):
            mp = G(images)
        out.append(as_grid(mp.float(), G.grid).cpu().half())
    return torch.cat(out).numpy() if out else np.empty((0, *G.grid), np.float16)
