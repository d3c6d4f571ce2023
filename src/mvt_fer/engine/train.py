"""The classifier's training loop (train_mvt)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from timm.utils import ModelEmaV3
from torch.utils.data import Dataset
from tqdm import tqdm

from ..data.loader import TrainLoader
from ..errors import UserError
from ..params import MvtParams, RelabelParams
from ..relabel import LabelStore, relabel_active, relabel_decisions
from . import distributed
from .checkpoint import Resume
from .inference import predict
from .loop import run_epochs, update, warmup_exp_decay
from .runtime import adamw, autocast

CHECK_EVERY = 50  # steps between checks that the loss is finite: a check waits for the device


def classifier_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    *,
    images: torch.Tensor,
    keep: torch.Tensor | None,
    targets: torch.Tensor,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One train_mvt update on a batch already on the device: (loss, detached, still on the device; logits).
    `targets` are class indices (B,) or distributions (B, K), cross-entropy either way. Nothing here waits
    for the device: the loop checks the loss every CHECK_EVERY steps (`check_finite`)."""
    with autocast(images.device):
        logits = model(images, keep)
        loss = F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)
    update(model, loss, optimizer=optimizer, scheduler=scheduler)
    return loss.detach(), logits


def check_finite(loss_sum: torch.Tensor, epoch: int, step: int) -> None:
    """Stop every process (none waits for the others) once the summed loss is no longer finite."""
    value = loss_sum.item()
    if distributed.any_process(not math.isfinite(value)):
        raise UserError(f"train_mvt: the loss became {value} by step {step} of epoch {epoch + 1}; lower mvt.lr")


def train_one_epoch(
    model: torch.nn.Module,
    loader,
    labels: LabelStore,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler,
    dev: torch.device,
    epoch: int,
    relabel: RelabelParams | None,
    soft_targets: np.ndarray | None = None,
    label_smoothing: float = 0.0,
    after_step: Callable[[], None] | None = None,
) -> dict:
    """One pass over `loader`, each batch trained on its labels as the store holds them now, or with
    `soft_targets` (N, K) on those distributions (cross-entropy against them; mvt.targets: votes; a row
    relabeled since the start on its new label, `LabelStore.soft_targets`); with
    `relabel` (this epoch relabels), each batch's predictions may then change the labels (Eq. 6). Returns
    lr, train_loss and train_acc (on the labels as they stood), summed over processes. `after_step` runs
    after every update (the weight EMA)."""
    # Sums stay on the device (float64, so they equal a sum of Python floats) until the epoch ends.
    loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    seen, step = 0, 0
    lr = optimizer.param_groups[0]["lr"]
    bar = tqdm(loader, desc=f"train_mvt epoch {epoch + 1}", leave=False, disable=None)
    for step, (images, keep, index) in enumerate(bar, 1):
        targets = torch.from_numpy(labels.labels[index.numpy()]).to(dev, non_blocking=True)
        if soft_targets is None:
            trained_on = targets
        else:
            trained_on = torch.from_numpy(labels.soft_targets(index.numpy(), soft_targets)).to(dev)
        loss, logits = classifier_step(
            model, optimizer, scheduler, images=images, keep=keep, targets=trained_on, label_smoothing=label_smoothing
        )
        if after_step is not None:
            after_step()
        loss_sum += loss.double() * len(targets)
        correct += (logits.argmax(-1) == targets).sum()
        seen += len(targets)
        if relabel is not None:
            probs = logits.detach().float().softmax(-1)
            new = relabel_decisions(probs, targets, relabel)
            # Every process applies every process's decisions, in rank order: the same labels everywhere.
            for idx, lab, pr in distributed.gather((index.cpu().numpy(), new.cpu().numpy(), probs.cpu().numpy())):
                labels.apply(epoch + 1, idx, lab, pr)
        if step % CHECK_EVERY == 0:
            check_finite(loss_sum, epoch, step)
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}", acc=f"{correct.item() / seen:.3f}")
    check_finite(loss_sum, epoch, step)
    totals = distributed.sum_over_processes({"loss": loss_sum.item(), "correct": int(correct.item()), "seen": seen})
    return {"lr": lr, "train_loss": totals["loss"] / totals["seen"], "train_acc": totals["correct"] / totals["seen"]}


def fit_classifier(
    model: torch.nn.Module,
    train_set: Dataset,
    labels: LabelStore,
    *,
    p: MvtParams,
    seed: int,
    dev: torch.device,
    monitor: dict[str, tuple[Dataset, np.ndarray]] | None = None,
    eval_batch_size: int = 256,
    relabel: RelabelParams | None = None,
    resume: Resume | None = None,
    on_epoch: Callable[[list[dict]], None] | None = None,
    soft_targets: np.ndarray | None = None,
) -> list[dict]:
    """Train `model` in place on `train_set`, reading targets from `labels` (indexed by dataset row), which
    the loop owns, never the DataLoader's workers (their copies would silently drop changes). Relabeling
    (Eq. 6) runs in the epochs `relabel_active` allows; a change holds until the sample is relabeled again.
    After every epoch the model is scored on each `monitor` set (name -> (dataset, true labels)). With
    `resume`, every epoch is checkpointed and a matching checkpoint continued. Returns one record per epoch;
    `on_epoch` gets the records so far after each (on process 0). With `soft_targets` (N, K, by dataset
    row) the loss is against those distributions instead of the labels (which still score train_acc). With
    `p.ema_decay` the weights' moving average is what each epoch scores, and what `model` holds at the end."""
    model.to(dev)
    batch = (p.batch_per_device * distributed.world_size()) if p.batch_per_device else p.batch_size
    lr = p.lr * batch / p.batch_size if p.lr_scaling == "linear" else p.lr
    loader = TrainLoader(
        train_set,
        batch,
        batch_key="mvt.batch_size",
        num_workers=p.num_workers,
        dev=dev,
        seed=seed,
        augment=p.augment,
        patch_size=getattr(model, "patch_size", None),
        balance=labels.labels.copy() if p.sampler == "balanced" else None,
    )
    optimizer = adamw(model, lr, weight_decay=p.weight_decay, dev=dev)
    # The steps call `step_model`: under torchrun DistributedDataParallel (its gradient buckets all-reduce
    # during the backward pass; BatchNorm buffers follow process 0's), compiled if asked; `model` itself
    # (what is saved and scored) stays as it is.
    step_model = distributed.ddp(model, dev)
    if p.compile is True or (p.compile == "cuda" and dev.type == "cuda"):
        step_model = torch.compile(step_model)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_exp_decay(len(loader), p.warmup_epochs, p.lr_gamma))
    ema = ModelEmaV3(model, decay=p.ema_decay) if p.ema_decay is not None else None
    scored = ema.module if ema is not None else model

    def one_epoch(epoch: int, seed_e: int, history: list[dict]) -> dict:
        relabeling = relabel is not None and relabel_active(relabel, epoch + 1, [h["train_acc"] for h in history])
        model.train()
        stats = train_one_epoch(
            step_model,
            loader,
            labels,
            optimizer=optimizer,
            scheduler=scheduler,
            dev=dev,
            epoch=epoch,
            relabel=relabel if relabeling else None,
            soft_targets=soft_targets,
            label_smoothing=p.label_smoothing,
            after_step=(lambda: ema.update(model)) if ema is not None else None,
        )
        record = {"epoch": epoch + 1} | stats
        if relabel is not None and relabel.enabled:
            record["relabel_on"] = int(relabeling)
            record |= {f"relabel_{k}": v for k, v in labels.epoch_stats(epoch + 1).items()}
        for name, (dataset, truth) in (monitor or {}).items() if distributed.is_main() else ():
            probs = predict(scored, dataset, eval_batch_size, dev=dev)
            record[f"{name}_acc"] = float((probs.argmax(-1) == truth).mean())
        return record

    state = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "labels": labels}
    if ema is not None:
        state["ema"] = ema.module
    history = run_epochs(
        "train_mvt",
        p.epochs,
        seed=seed,
        loader=loader,
        resume=resume,
        state=state,
        one_epoch=one_epoch,
        on_epoch=on_epoch,
    )
    if distributed.world_size() > 1:  # cheap insurance that the gathered decisions kept the stores equal
        digests = distributed.gather(hashlib.sha256(labels.labels.tobytes()).hexdigest())
        if len(set(digests)) != 1:
            raise RuntimeError(f"train_mvt: the label stores of the {len(digests)} processes differ")
    if ema is not None:
        model.load_state_dict(ema.module.state_dict())  # what is saved and evaluated
    return history
