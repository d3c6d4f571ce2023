"""The classifier's training loop (train_mvt)."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Sampler, WeightedRandomSampler
from tqdm import tqdm

from ..errors import UserError
from ..params import MvtParams, RelabelParams
from ..relabel import LabelStore, relabel_active, relabel_decisions
from . import distributed
from .checkpoint import Resume
from .evaluate import predict
from .loop import TrainLoader, run_epochs, update, warmup_exp_decay
from .runtime import adamw, autocast


def classifier_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    images: torch.Tensor,
    keep: torch.Tensor | None,
    targets: torch.Tensor,
    epoch: int,
) -> tuple[float, torch.Tensor]:
    """One train_mvt update on a batch already on the device: (loss, logits)."""
    with autocast(images.device):
        logits = model(images, keep)
        loss = F.cross_entropy(logits.float(), targets)
    value = loss.item()
    if distributed.any_process(not math.isfinite(value)):  # every process stops, none waits for the others
        raise UserError(f"train_mvt: loss became {value} in epoch {epoch + 1}; lower mvt.lr")
    update(model, optimizer, scheduler, loss)
    return value, logits


def train_sampler(labels: np.ndarray, kind: str, generator: torch.Generator) -> Sampler | None:
    """None (the loader shuffles) or, for `balanced`, class-balanced oversampling: N draws with replacement,
    each image weighted 1/(count of its class) by the labels as given at the start."""
    if kind == "uniform":
        return None
    weights = torch.from_numpy(1.0 / np.bincount(labels)[labels])
    return WeightedRandomSampler(weights, len(labels), replacement=True, generator=generator)


def train_one_epoch(
    model: torch.nn.Module,
    loader,
    labels: LabelStore,
    optimizer: torch.optim.Optimizer,
    scheduler,
    dev: torch.device,
    epoch: int,
    relabel: RelabelParams | None,
) -> dict:
    """One pass over `loader`, each batch trained on its labels as the store holds them now; with
    `relabel` (this epoch relabels), each batch's predictions may then change them (Eq. 6). Returns lr,
    train_loss and train_acc (on the labels as they stood), summed over processes."""
    loss_sum, correct, seen = 0.0, 0, 0
    lr = optimizer.param_groups[0]["lr"]
    bar = tqdm(loader, desc=f"train_mvt epoch {epoch + 1}", leave=False, disable=None)
    for images, keep, index in bar:
        targets = torch.from_numpy(labels.labels[index.cpu().numpy()]).to(dev)
        loss, logits = classifier_step(model, optimizer, scheduler, images, keep, targets, epoch)
        loss_sum += loss * len(targets)
        correct += (logits.argmax(-1) == targets).sum().item()
        seen += len(targets)
        if relabel is not None:
            probs = logits.detach().float().softmax(-1)
            new = relabel_decisions(probs, targets, relabel)
            # Every process applies every process's decisions, in rank order: the same labels everywhere.
            for idx, lab, pr in distributed.gather((index.cpu().numpy(), new.cpu().numpy(), probs.cpu().numpy())):
                labels.apply(epoch + 1, idx, lab, pr)
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
    totals = distributed.sum_over_processes({"loss": loss_sum, "correct": correct, "seen": seen})
    return {"lr": lr, "train_loss": totals["loss"] / totals["seen"], "train_acc": totals["correct"] / totals["seen"]}


def fit_classifier(
    model: torch.nn.Module,
    train_set: Dataset,
    labels: LabelStore,
    p: MvtParams,
    seed: int,
    dev: torch.device,
    monitor: dict[str, tuple[Dataset, np.ndarray]] | None = None,
    eval_batch_size: int = 256,
    relabel: RelabelParams | None = None,
    resume: Resume | None = None,
) -> list[dict]:
    """Train `model` in place on `train_set`, reading targets from `labels` (indexed by dataset row), which
    the loop owns, never the DataLoader's workers (their copies would silently drop changes). Relabeling
    (Eq. 6) runs in the epochs `relabel_active` allows; a change holds until the sample is relabeled again.
    After every epoch the model is scored on each `monitor` set (name -> (dataset, true labels)). With
    `resume`, every epoch is checkpointed and a matching checkpoint continued. Returns one record per epoch."""
    model.to(dev)
    if distributed.world_size() > 1 and p.sampler != "uniform":
        raise UserError(f"mvt.sampler: {p.sampler} runs in one process only for now; use uniform under torchrun")
    loader = TrainLoader(
        train_set,
        p.batch_size,
        "mvt.batch_size",
        p.num_workers,
        dev,
        seed,
        p.augment,
        getattr(model, "patch_size", None),
        lambda g: train_sampler(labels.labels, p.sampler, g),
    )
    optimizer = adamw(model, p.lr, p.weight_decay, dev)
    # torch.compile wraps the module the steps call; `model` itself (what is saved) stays as it is.
    step_model = torch.compile(model) if p.compile else model
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_exp_decay(len(loader), p.warmup_epochs, p.lr_gamma))

    def one_epoch(epoch: int, seed_e: int, history: list[dict]) -> dict:
        relabeling = relabel is not None and relabel_active(relabel, epoch + 1, [h["train_acc"] for h in history])
        model.train()
        stats = train_one_epoch(
            step_model, loader, labels, optimizer, scheduler, dev, epoch, relabel if relabeling else None
        )
        record = {"epoch": epoch + 1} | stats
        if relabel is not None and relabel.enabled:
            record["relabel_on"] = int(relabeling)
            record |= {f"relabel_{k}": v for k, v in labels.epoch_stats(epoch + 1).items()}
        for name, (dataset, truth) in (monitor or {}).items() if distributed.is_main() else ():
            record[f"{name}_acc"] = float((predict(model, dataset, eval_batch_size, dev).argmax(-1) == truth).mean())
        return record

    state = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "labels": labels}
    history = run_epochs("train_mvt", p.epochs, seed, loader, resume, state, one_epoch)
    if distributed.world_size() > 1:  # cheap insurance that the gathered decisions kept the stores equal
        digests = distributed.gather(hashlib.sha256(labels.labels.tobytes()).hexdigest())
        if len(set(digests)) != 1:
            raise RuntimeError(f"train_mvt: the label stores of the {len(digests)} processes differ")
    return history
