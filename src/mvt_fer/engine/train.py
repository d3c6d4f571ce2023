"""The classifier's training loop (train_mvt)."""

from __future__ import annotations

import hashlib
import math
import time

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
from .evaluate import make_loader, predict
from .runtime import adamw, autocast, loader_workers, to_device


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
    """Train `model` in place on `train_set`, reading targets from `labels` (indexed by dataset row).

    The loop owns the label store, never the DataLoader's workers (their copies would silently drop
    changes). With `relabel.enabled`, from epoch `relabel.start_epoch` on, once an epoch's training
    accuracy reached `relabel.min_train_acc`, every batch's predictions may change its samples' labels
    (Eq. 6); a change holds in later epochs until the sample is relabeled
    again. After every epoch the model is scored on each `monitor` set (name -> (dataset, true labels))
    for the training curves. With `resume`, every epoch is checkpointed and a matching checkpoint is
    continued. Returns one record per epoch.
    """
    model.to(dev)
    generator = torch.Generator()
    batch_size = distributed.per_process_batch(p.batch_size, "mvt.batch_size")
    shards = distributed.epoch_sampler(train_set, seed)
    if shards is not None and p.sampler != "uniform":
        raise UserError(f"mvt.sampler: {p.sampler} runs in one process only for now; use uniform under torchrun")
    loader = make_loader(
        train_set,
        batch_size,
        dev,
        shuffle=True,
        num_workers=loader_workers(p.num_workers),
        generator=generator,
        drop_last=len(train_set) > p.batch_size,
        sampler=shards or train_sampler(labels.labels, p.sampler, generator),
    )
    optimizer = adamw(model, p.lr, p.weight_decay, dev)
    # torch.compile wraps the module the steps call; `model` itself (what is saved) stays as it is.
    step_model = torch.compile(model) if p.compile else model
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_exp_decay(len(loader), p.warmup_epochs, p.lr_gamma))
    history, first_epoch = [], 0
    state = resume.load() if resume is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        labels.restore(state["labels"])
        history, first_epoch = list(state["history"]), state["epoch"]
    for epoch in range(first_epoch, p.epochs):
        start = time.perf_counter()
        # Each process draws its own augmentation and dropout; the shuffle is shared (`shards`).
        seed_e = epoch_seed(seed, epoch) + distributed.rank()
        if shards is not None:
            shards.set_epoch(epoch)
        generator.manual_seed(seed_e)  # shuffling order and worker seeds
        train_set.set_seed(seed_e)  # augmentation, per row (the same with any num_workers)
        torch.manual_seed(seed_e)  # dropout / drop-path
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        lr = optimizer.param_groups[0]["lr"]
        relabeling = relabel is not None and relabel_active(relabel, epoch + 1, [h["train_acc"] for h in history])
        bar = tqdm(loader, desc=f"train_mvt epoch {epoch + 1}/{p.epochs}", leave=False, disable=None)
        for batch in bar:
            images, keep, index = to_device(batch, dev)
            targets = torch.from_numpy(labels.labels[index.cpu().numpy()]).to(dev)
            loss, logits = classifier_step(step_model, optimizer, scheduler, images, keep, targets, epoch)
            loss_sum += loss * len(targets)
            correct += (logits.argmax(-1) == targets).sum().item()
            seen += len(targets)
            if relabeling:
                probs = logits.detach().float().softmax(-1)
                new = relabel_decisions(probs, targets, relabel)
                # Every process applies every process's decisions, in rank order: the same labels everywhere.
                for idx, lab, pr in distributed.gather((index.cpu().numpy(), new.cpu().numpy(), probs.cpu().numpy())):
                    labels.apply(epoch + 1, idx, lab, pr)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        totals = distributed.sum_over_processes({"loss": loss_sum, "correct": correct, "seen": seen})
        record = {
            "epoch": epoch + 1,
            "lr": lr,
            "train_loss": totals["loss"] / totals["seen"],
            "train_acc": totals["correct"] / totals["seen"],
        }
        if relabel is not None and relabel.enabled:
            record["relabel_on"] = int(relabeling)
            record |= {f"relabel_{k}": v for k, v in labels.epoch_stats(epoch + 1).items()}
        for name, (dataset, truth) in (monitor or {}).items() if distributed.is_main() else ():
            probs = predict(model, dataset, eval_batch_size, dev)
            record[f"{name}_acc"] = float((probs.argmax(-1) == truth).mean())
        history.append(record)
        if resume is not None:
            resume.save(
                {
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "labels": labels.state(),
                    "history": history,
                }
            )
        if distributed.is_main():
            summary = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
            print(f"train_mvt {summary} ({time.perf_counter() - start:.1f}s)", flush=True)
    if distributed.world_size() > 1:  # cheap insurance that the gathered decisions kept the stores equal
        digests = distributed.gather(hashlib.sha256(labels.labels.tobytes()).hexdigest())
        if len(set(digests)) != 1:
            raise RuntimeError(f"train_mvt: the label stores of the {len(digests)} processes differ")
    return history
