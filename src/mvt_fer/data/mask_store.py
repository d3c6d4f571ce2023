"""The masks store: G's per-patch output Mp for every prepared image, written once by the masks stage.

    data/masks/
      meta.json      source, how Mp is read (view, mask_ratio, hard), patch_size, grid, rows per split
      <split>.npy    float16 (N, h, w): Mp, memory-mapped by readers

Masks are stored per patch (tiny) and turned into pixels only where an image is augmented or masked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import atomic_path
from ..masking import MaskReading


def write_masks(root: str | Path, masks: dict[str, np.ndarray], meta: dict) -> None:
    with atomic_path(root) as tmp:
        tmp.mkdir()
        for split, mp in masks.items():
            np.save(tmp / f"{split}.npy", mp.astype(np.float16))
        meta = {**meta, "splits": {split: int(len(mp)) for split, mp in masks.items()}}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


class MaskStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        path = self.root / "meta.json"
        if not path.is_file():
            raise UserError(f"{self.root}: no masks here (run the masks stage: dvc repro masks)")
        self.meta = json.loads(path.read_text())
        self.reading = MaskReading.from_meta(self.meta)

    def mp(self, split: str, expected_rows: int) -> np.ndarray:
        """Mp of one split, checked against the number of prepared images it must describe."""
        n = self.meta["splits"].get(split)
        if n is None:
            raise UserError(f"{self.root}: no masks for split {split!r}; rerun the masks stage")
        if n != expected_rows:
            raise UserError(
                f"{self.root}: {n} masks for {expected_rows} prepared {split} images (stale masks); "
                "rerun the masks stage (dvc repro masks)"
            )
        return np.load(self.root / f"{split}.npy", mmap_mode="r")

    def keep(self, split: str, expected_rows: int) -> np.ndarray:
        """The classifier's keep grids (N, h, w) of one split, Mp read as stored beside it."""
        return self.reading.keep_grid(self.mp(split, expected_rows))
