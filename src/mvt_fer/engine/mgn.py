"""Training the mask generation network (paper Sec. 3.2): D warm-up, then alternating D and G updates."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm import tqdm

from ..data.dataset import ImageDataset
from ..data.loader import TrainLoader
from ..losses import discriminator_loss, generator_loss, prediction_variance, sampled_generator_loss
from ..masking import (
    MaskSpec,
    apply_mask,
    as_grid,
    bernoulli_log_prob,
    discriminator_view,
    random_patch_mask,
    sample_mask,
    straight_through_top_k,
)
from ..models import MaskedClassifier, MaskGenerator
from ..params import MgnParams
from . import distributed
from .checkpoint import Resume
from .inference import inference_batches
from .loop import run_epochs, update, warmup_exp_decay
from .runtime import adamw, autocast

CHECK_EVERY = 50  # steps between progress-bar updates: each waits for the device


def generated_view(
    images: torch.Tensor,
    mp: torch.Tensor,
    G: MaskGenerator,
    *,
    spec: MaskSpec,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """v(x, Mp): D's view through G's mask, as `spec.estimator` reads Mp: the soft Mp itself, its
    straight-through top-k, or a binary draw M ~ Bernoulli(Mp)."""
    if spec.estimator == "straight_through":
        mask = straight_through_top_k(mp, int(round(spec.ratio * mp.shape[-1])))
    elif spec.estimator == "sampled":
        mask = sample_mask(mp, generator)
    else:
        mask = mp
    return discriminator_view(images, mask, spec.view, G.patch_size, G.grid)


def generator_step_loss(
    G: MaskGenerator,
    D: MaskedClassifier,
    images: torch.Tensor,
    *,
    spec: MaskSpec,
    samples: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """L_G (Eq. 2) of one batch, differentiable in G (D frozen by the caller); returns (loss, Mp)."""
    logits = G.logits(images)
    mp = torch.sigmoid(logits / G.temperature)
    if spec.estimator != "sampled":
        return generator_loss(D(generated_view(images, mp, G, spec=spec)), mp, spec.ratio), mp
    draws = sample_mask(mp.repeat(samples, 1), generator)
    with torch.no_grad():
        views = discriminator_view(images.repeat(samples, 1, 1, 1), draws, spec.view, G.patch_size, G.grid)
        variance = prediction_variance(D(views)).view(samples, -1)
    log_prob = bernoulli_log_prob(logits.repeat(samples, 1) / G.temperature, draws).view(samples, -1)
    return sampled_generator_loss(log_prob, variance, mp, spec.ratio), mp


@torch.inference_mode()
def score_views(
    G: MaskGenerator,
    D: MaskedClassifier,
    dataset: ImageDataset,
    *,
    labels: np.ndarray,
    spec: MaskSpec,
    batch_size: int,
    dev: torch.device,
    seed: int,
) -> dict:
    """D's accuracy on full, random-masked and generated-masked views of `dataset` (D's own views), on what
    the classifier keeps of each (`kept_*`: the image less G's inference mask, or less a random one of the same
    area), and mean(Mp)."""
    G.eval(), D.eval()
    gen = torch.Generator().manual_seed(seed)
    reading = spec.reading
    hits = {"full": 0, "random": 0, "generated": 0, "kept_random": 0, "kept_generated": 0}
    mp_sum, n = 0.0, 0
    for images, _, index in inference_batches(dataset, batch_size, dev):
        y = torch.as_tensor(labels[index.numpy()], device=dev)
        with autocast(dev):
            mp = G(images)
            r = random_patch_mask(len(y), mp.shape[1], spec.ratio, gen, dev)
            views = {
                "full": images,
                "random": discriminator_view(images, r, spec.view, G.patch_size, G.grid),
                "generated": generated_view(images, mp, G, spec=spec, generator=gen),
                # x ⊙ up(keep): the classifier's input, whose quality the masks are for.
                "kept_random": apply_mask(images, as_grid(1 - r, G.grid), G.patch_size),
                "kept_generated": apply_mask(images, as_grid(reading.keep(mp), G.grid), G.patch_size),
            }
            for name, v in views.items():
                hits[name] += (D(v).argmax(-1) == y).sum().item()
        mp_sum += mp.float().sum().item() / mp.shape[1]
        n += len(y)
    return {f"d_acc_{k}": v / n for k, v in hits.items()} | {"mean_mp": mp_sum / n}


def discriminator_step(
    G: MaskGenerator,
    D: MaskedClassifier,
    images: torch.Tensor,
    *,
    labels: torch.Tensor,
    r: torch.Tensor,
    optimizer,
    scheduler,
    spec: MaskSpec,
    rng: torch.Generator,
    warmup: bool,
    warmup_random: bool = True,
):
    """One D update (Eq. 1) on `images` with their `labels`, G frozen; R is the batch's random mask. In
    warm-up the full image stands in for G's view (and with `warmup_random` D sees R's view too).

    Returns (loss, logits on G's view or the full image, logits on the random view or None, Mp or None).
    """
    y = labels
    D.train()
    with torch.no_grad(), autocast(images.device):
        mp = None if warmup else G.eval()(images)
    with autocast(images.device):
        if warmup and not warmup_random:
            logits_first, logits_random = D(images), None
            loss_d = F.cross_entropy(logits_first.float(), y)
        else:
            first_view = images if warmup else generated_view(images, mp, G, spec=spec, generator=rng)
            random_view = discriminator_view(images, r, spec.view, G.patch_size, G.grid)
            logits_first, logits_random = D(torch.cat([first_view, random_view])).split(len(y))
            loss_d = discriminator_loss(logits_first, logits_random, y)
    update(D, loss_d, optimizer=optimizer, scheduler=scheduler)
    return loss_d, logits_first, logits_random, mp


def generator_step(
    G: MaskGenerator,
    D: MaskedClassifier,
    images: torch.Tensor,
    *,
    optimizer,
    scheduler,
    spec: MaskSpec,
    samples: int,
    rng: torch.Generator,
) -> torch.Tensor:
    """One G update (Eq. 2), D frozen: only G's optimiser steps, and D runs without dropout. Returns L_G,
    detached, on the device."""
    G.train(), D.eval()
    D.requires_grad_(False)
    with autocast(images.device):
        loss_g, _ = generator_step_loss(G, D, images, spec=spec, samples=samples, generator=rng)
    update(G, loss_g, optimizer=optimizer, scheduler=scheduler)
    D.requires_grad_(True)
    return loss_g.detach()


def train_one_epoch(
    G: MaskGenerator,
    D: MaskedClassifier,
    loader,
    *,
    labels: torch.Tensor,
    optimizers: tuple,
    p: MgnParams,
    spec: MaskSpec,
    dev: torch.device,
    masks_rng: torch.Generator,
    epoch: int,
) -> dict:
    """One pass over `loader`: a D step per batch (Eq. 1; in warm-up the full image stands in for G's view)
    and, after warm-up, a G step every `p.d_steps_per_g_step` batches (Eq. 2). Returns the epoch's phase,
    mean losses, mean Mp and D's training accuracy per view, summed over processes."""
    opt_d, opt_g, sched_d, sched_g = optimizers
    warmup = epoch < p.d_warmup_epochs
    # Sums stay on the device (float64, as Python floats would) until the epoch ends: no step waits for it.
    zero = torch.zeros((), dtype=torch.float64, device=dev)
    sums = {"loss_d": zero.clone(), "loss_g": zero.clone(), "mean_mp": zero.clone()}
    d_hits = {"full": zero.long(), "random": zero.long(), "generated": zero.long()}
    seen, g_steps = 0, 0
    bar = tqdm(
        loader,
        desc=f"train_mgn epoch {epoch + 1} ({'D warm-up' if warmup else 'adversarial'})",
        leave=False,
        disable=None,
    )
    for step, (images, _, index) in enumerate(bar):
        y = labels[index].to(dev)
        r = random_patch_mask(len(y), G.vit.patch_embed.num_patches, spec.ratio, masks_rng, dev)
        loss_d, logits_first, logits_random, mp = discriminator_step(
            G,
            D,
            images,
            labels=y,
            r=r,
            optimizer=opt_d,
            scheduler=sched_d,
            spec=spec,
            rng=masks_rng,
            warmup=warmup,
            warmup_random=p.d_warmup_random,
        )
        sums["loss_d"] += loss_d.detach().double() * len(y)
        if logits_random is not None:
            d_hits["random"] += (logits_random.argmax(-1) == y).sum()
        if warmup:
            d_hits["full"] += (logits_first.argmax(-1) == y).sum()
        else:
            d_hits["generated"] += (logits_first.argmax(-1) == y).sum()
            sums["mean_mp"] += mp.float().mean().double() * len(y)
        if not warmup and step % p.d_steps_per_g_step == 0:
            loss_g = generator_step(
                G, D, images, optimizer=opt_g, scheduler=sched_g, spec=spec, samples=p.samples, rng=masks_rng
            )
            sums["loss_g"] += loss_g.double()
            g_steps += 1
        seen += len(y)
        if (step + 1) % CHECK_EVERY == 0:
            bar.set_postfix(loss_d=f"{sums['loss_d'].item() / seen:.3f}")
    sums = {k: v.item() for k, v in sums.items()} | {f"hits_{k}": int(v.item()) for k, v in d_hits.items()}
    totals = distributed.sum_over_processes(sums | {"seen": seen})
    seen, nan = totals["seen"], float("nan")  # g_steps is the same on every process
    return {
        "phase": "warmup" if warmup else "adversarial",
        "loss_d": totals["loss_d"] / seen,
        "loss_g": totals["loss_g"] / (g_steps * distributed.world_size()) if g_steps else nan,
        "mean_mp": totals["mean_mp"] / seen if not warmup else nan,
        "train_d_acc_full": totals["hits_full"] / seen if warmup else nan,
        "train_d_acc_random": totals["hits_random"] / seen if not warmup or p.d_warmup_random else nan,
        "train_d_acc_generated": totals["hits_generated"] / seen if not warmup else nan,
    }


def fit_mgn(
    G: MaskGenerator,
    D: MaskedClassifier,
    train_set: Dataset,
    *,
    labels: torch.Tensor,
    p: MgnParams,
    spec: MaskSpec,
    seed: int,
    dev: torch.device,
    monitor: tuple[Dataset, np.ndarray] | None = None,
    resume: Resume | None = None,
    on_epoch: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """Train G and D in place.

    Epochs < `p.d_warmup_epochs` train D alone, on full images (and random-masked ones with
    `p.d_warmup_random`); after that every batch updates D (Eq. 1, G frozen) and every
    `p.d_steps_per_g_step`-th batch updates G (Eq. 2, D frozen). R is drawn for every batch either way, so
    the random stream does not depend on the warm-up mode. The mask (view, m, estimator) is `spec`'s.
    Returns one record per epoch; `on_epoch` gets the records so far after each (on process 0).
    """
    G.to(dev), D.to(dev)
    loader = TrainLoader(
        train_set,
        p.batch_size,
        batch_key="mgn.batch_size",
        num_workers=p.num_workers,
        dev=dev,
        seed=seed,
        augment=p.augment,
    )
    opt_d = adamw(D, p.lr_d, weight_decay=p.weight_decay, dev=dev)
    opt_g = adamw(G, p.lr_g, weight_decay=p.weight_decay, dev=dev)
    # A ViT from scratch without LR warm-up can sit at chance for many epochs; G's clock starts with
    # the adversarial phase, in G steps.
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, warmup_exp_decay(len(loader), 1, p.lr_gamma))
    g_steps_per_epoch = -(-len(loader) // p.d_steps_per_g_step)
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, warmup_exp_decay(g_steps_per_epoch, 1, p.lr_gamma))

    def one_epoch(epoch: int, seed_e: int, history: list[dict]) -> dict:
        masks_rng = torch.Generator().manual_seed(seed_e)  # R, and G's draws: each process its own
        optimizers = (opt_d, opt_g, sched_d, sched_g)
        stats = train_one_epoch(
            G,
            D,
            loader,
            labels=labels,
            optimizers=optimizers,
            p=p,
            spec=spec,
            dev=dev,
            masks_rng=masks_rng,
            epoch=epoch,
        )
        record = {"epoch": epoch + 1} | stats
        if monitor is not None and distributed.is_main():
            dataset, truth = monitor
            scores = score_views(
                G, D, dataset, labels=truth, spec=spec, batch_size=p.batch_size * 2, dev=dev, seed=seed
            )
            record |= {f"val_{k}": v for k, v in scores.items()}
        return record

    state = {"G": G, "D": D, "opt_d": opt_d, "opt_g": opt_g, "sched_d": sched_d, "sched_g": sched_g}
    epochs = p.d_warmup_epochs + p.epochs
    return run_epochs(
        "train_mgn",
        epochs,
        seed=seed,
        loader=loader,
        resume=resume,
        state=state,
        one_epoch=one_epoch,
        on_epoch=on_epoch,
    )
