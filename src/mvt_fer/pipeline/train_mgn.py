"""Stage `train_mgn`: the prepared train split -> the mask generator G (trained against a ViT D)."""

from __future__ import annotations

import pandas as pd
import torch

from .. import plots
from ..data.dataset import ImageDataset
from ..engine import distributed, runtime
from ..engine.checkpoint import Resume, fingerprint, save_generator
from ..engine.mgn import fit_mgn
from ..io import write_csv, write_json
from ..masking import MaskSpec
from ..models import create_classifier, create_generator
from ..params import Params
from .live import LiveCurves
from .paths import CHECKPOINTS, LIVE, METRICS, MGN_MODEL, PLOTS, PREPARED, open_store


def train_mgn(p: Params) -> None:
    """Train G adversarially (Eq. 1-4) at `mask_ratio`; save G, its curves and metrics/mgn.json."""
    runtime.seed_everything(p.seed)
    dev = runtime.device()
    store = open_store(p)
    train_set = ImageDataset(store.images("train"))
    labels = torch.tensor(store.rows("train")["label"].to_numpy(), dtype=torch.long)
    monitor = None
    if "val" in store.splits:
        monitor = (ImageDataset(store.images("val")), store.rows("val")["label"].to_numpy())
    G = create_generator(p.model, p.mgn.depth, store.image_size, p.mgn.temperature)
    D = create_classifier(p.model, store.num_classes, store.image_size)
    distributed.broadcast_from_main(G), distributed.broadcast_from_main(D)
    if distributed.is_main():
        print(
            f"train_mgn: view={p.mgn.view} mask_ratio={p.mask_ratio} G {p.mgn.depth} blocks, D {p.model.name}, "
            f"{len(train_set)} images, device {dev}, {distributed.world_size()} process(es)",
            flush=True,
        )
    resume = Resume(CHECKPOINTS / "train_mgn.pt", fingerprint(p, PREPARED))
    spec = MaskSpec.of(p)
    live = LiveCurves(LIVE / "train_mgn")
    records = fit_mgn(
        G,
        D,
        train_set,
        labels=labels,
        p=p.mgn,
        spec=spec,
        seed=p.seed,
        dev=dev,
        monitor=monitor,
        resume=resume,
        on_epoch=live,
    )
    if not distributed.is_main():
        return
    live.end()
    history = pd.DataFrame(records)
    save_generator(MGN_MODEL, G.cpu(), model_params=p.model, depth=p.mgn.depth, reading=spec.reading)
    write_csv(PLOTS / "mgn" / "curves.csv", history.round(6))
    plots.mgn_curves(history, PLOTS / "mgn" / "curves.png")
    last = history.iloc[-1]
    write_json(
        METRICS / "mgn.json",
        {k: round(float(last[k]), 6) for k in history.columns if k not in ("epoch", "phase") and pd.notna(last[k])}
        | {"epochs": int(last["epoch"]), "view": p.mgn.view, "mask_ratio": p.mask_ratio},
    )
    resume.clear()
