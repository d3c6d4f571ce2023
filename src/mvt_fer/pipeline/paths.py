"""Where the stages read and write (the contract with dvc.yaml), and the checked readers of shared inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.store import PreparedStore
from ..errors import UserError
from ..params import Params

PREPARED = Path("data/prepared")
MASKS = Path("data/masks")
MGN_MODEL = Path("models/mgn.pt")
LIVE = Path("metrics/live")  # dvclive's folder per training stage: metrics.json and per-metric TSVs
MVT_MODEL = Path("models/mvt.pt")
RELABEL_LOG = Path("logs/relabel.csv")
CHECKPOINTS = Path("checkpoints")  # epoch checkpoints of killed runs; not DVC outputs (dvc repro would delete them)
METRICS = Path("metrics")
PLOTS = Path("plots")


def open_store(p: Params) -> PreparedStore:
    store = PreparedStore(PREPARED)
    if store.image_size != p.prepare.image_size:
        raise UserError(
            f"{PREPARED}: images are {store.image_size} px but prepare.image_size is {p.prepare.image_size}; "
            "rerun the prepare stage (dvc repro prepare)"
        )
    return store


def classifier_keep(p: Params, store: PreparedStore, split: str) -> np.ndarray | None:
    """The classifier's per-patch keep-mask (N, h, w) for one split, or None when masking is off."""
    from ..data.mask_store import MaskStore  # torch: prepare, which imports this module, runs without it

    if not p.mvt.use_masks:
        return None
    return MaskStore(MASKS).keep(split, len(store.rows(split)))
