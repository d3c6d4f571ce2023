"""Stage `train_mvt`: the prepared train split -> the trained MVT classifier, its curves and metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import plots
from ..data.dataset import ImageDataset
from ..data.store import PreparedStore
from ..engine import distributed, runtime
from ..engine.checkpoint import Resume, fingerprint, save_classifier
from ..engine.train import fit_classifier
from ..errors import UserError
from ..io import write_csv, write_json
from ..losses import vote_distribution
from ..models import create_classifier
from ..params import Params
from ..relabel import LabelStore, relabel_quality, started_epoch
from .live import LiveCurves
from .paths import (
    CHECKPOINTS,
    LIVE,
    MASKS,
    METRICS,
    MVT_MODEL,
    PLOTS,
    PREPARED,
    RELABEL_LOG,
    classifier_keep,
    open_store,
)


def training_targets(p: Params, store: PreparedStore, rows: pd.DataFrame) -> np.ndarray | None:
    """The soft targets `mvt.targets` asks for (None: the hard labels): FERPlus's vote distributions, by
    train row; a one-line error on a dataset without votes."""
    if p.mvt.targets == "hard":
        return None
    votes = [f"votes_{c}" for c in store.classes]  # the columns of a dataset with annotator votes
    if not set(votes) <= set(rows.columns):
        raise UserError(
            f"mvt.targets: votes needs the annotators' votes, which dataset {store.meta['dataset']} does not "
            "have (only ferplus); use mvt.targets: hard"
        )
    return vote_distribution(rows[votes].to_numpy())


def train_mvt(p: Params) -> None:
    """Train the MVT classifier on the prepared train split; save it, its curves and metrics/train.json."""
    runtime.seed_everything(p.seed)
    dev = runtime.device()
    store = open_store(p)
    rows = store.rows("train")
    model = create_classifier(p.model, store.num_classes, store.image_size)
    distributed.broadcast_from_main(model)

    def dataset(split):
        return ImageDataset(store.images(split), classifier_keep(p, store, split))

    train_set = dataset("train")
    labels = LabelStore(rows["label"].to_numpy(), rows["clean_label"].to_numpy())
    monitor = {
        split: (dataset(split), store.rows(split)["label"].to_numpy())
        for split in (("val", "test") if p.mvt.monitor_test else ("val",))
        if split in store.splits
    }
    if distributed.is_main():
        print(
            f"train_mvt: {p.model.name} ({sum(t.numel() for t in model.parameters()) / 1e6:.2f}M params) on "
            f"{len(train_set)} {'MGN-masked' if p.mvt.use_masks else 'unmasked'} images, device {dev}, "
            f"{distributed.world_size()} process(es)",
            flush=True,
        )
    resume = Resume(CHECKPOINTS / "train_mvt.pt", fingerprint(p, PREPARED, *([MASKS] if p.mvt.use_masks else [])))
    soft_targets = training_targets(p, store, rows)
    live = LiveCurves(LIVE / "train_mvt")
    records = fit_classifier(
        model,
        train_set,
        labels,
        p=p.mvt,
        seed=p.seed,
        dev=dev,
        monitor=monitor,
        eval_batch_size=p.evaluate.batch_size,
        relabel=p.relabel,
        resume=resume,
        on_epoch=live,
        soft_targets=soft_targets,
    )
    if not distributed.is_main():
        return
    live.end()
    history = pd.DataFrame(records)
    save_classifier(
        MVT_MODEL,
        model.cpu(),
        model_params=p.model,
        classes=store.classes,
        image_size=store.image_size,
        use_masks=p.mvt.use_masks,
        dataset=store.meta["dataset"],
    )
    write_csv(PLOTS / "train" / "curves.csv", history.round(6))
    plots.training_curves(history, PLOTS / "train" / "curves.png")
    log = pd.DataFrame(labels.log, columns=["epoch", "index", "old", "new", "clean", "p_gt", "p_max"])
    write_csv(RELABEL_LOG, log)
    plots.threshold_functions(p.relabel, PLOTS / "relabel" / "thresholds.png")
    last = history.iloc[-1]
    summary = {
        k: round(float(last[k]), 6) for k in ("lr", "train_loss", "train_acc", "val_acc", "test_acc") if k in last
    }
    summary["epochs"] = int(last["epoch"])
    if p.relabel.enabled:
        summary["relabel"] = {
            "count": len(log),
            "started_epoch": started_epoch(history.to_dict("records")),
        } | relabel_quality(labels.log, labels.labels, labels.clean, labels.noisy)
    write_json(METRICS / "train.json", summary)
    resume.clear()
