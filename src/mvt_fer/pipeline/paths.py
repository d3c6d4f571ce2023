"""Where the stages read and write: the contract with dvc.yaml."""

from __future__ import annotations

from pathlib import Path

from ..data.store import PreparedStore
from ..errors import UserError
from ..params import Params

PREPARED = Path("data/prepared")
MVT_MODEL = Path("models/mvt.pt")
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

