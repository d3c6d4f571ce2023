"""The prepared store: what `prepare` writes and every later stage reads.

    data/prepared/
      meta.json          dataset, classes, image_size, rows per split
      index.csv          one row per image: split, row, label, clean_label, source, subset flags
      <split>.npy        uint8 (N, H, W, 3), memory-mapped by readers
      <split>_face.npy   uint8 (N, H, W), 1 = face pixel (only where the dataset knows it)

One array per split rather than thousands of small files: DVC hashes one file, workers share pages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..io import atomic_path

SUBSETS = ("occluded", "pose_gt30", "pose_gt45")
COLUMNS = ("split", "row", "label", "clean_label", "source", *SUBSETS)


@dataclass
class SplitData:
    """One split in memory, as an adapter or the generator hands it to `write_store`."""

    images: np.ndarray  # (N, H, W, 3) uint8
    labels: np.ndarray  # (N,) int64, possibly noisy
    clean_labels: np.ndarray  # (N,) int64
    sources: list[str]
    flags: dict[str, np.ndarray] = field(default_factory=dict)  # subset name -> (N,) bool
    face: np.ndarray | None = None  # (N, H, W) uint8 face truth
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # more per-row columns (e.g. yaw)


def write_store(root: str | Path, dataset: str, classes: list[str], splits: dict[str, SplitData]) -> None:
    """Write the store atomically: a crash leaves the previous store (or none), never half of one."""
    tables = []
    image_size = None
    for name, s in splits.items():
        n = len(s.labels)
        if s.images.shape[0] != n or s.images.ndim != 4 or s.images.shape[-1] != 3 or s.images.dtype != np.uint8:
            raise ValueError(f"split {name}: images must be uint8 (N, H, W, 3) with N = {n}, got {s.images.shape}")
        image_size = s.images.shape[1]
        table = pd.DataFrame(
            {
                "split": name,
                "row": np.arange(n),
                "label": s.labels.astype(np.int64),
                "clean_label": s.clean_labels.astype(np.int64),
                "source": s.sources,
                **{k: s.flags.get(k, np.zeros(n, bool)).astype(bool) for k in SUBSETS},
                **s.extra,
            }
        )
        tables.append(table)
    with atomic_path(root) as tmp:
        tmp.mkdir()
        for name, s in splits.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(s.images))
            if s.face is not None:
                np.save(tmp / f"{name}_face.npy", np.ascontiguousarray(s.face.astype(np.uint8)))
        pd.concat(tables, ignore_index=True).to_csv(tmp / "index.csv", index=False, lineterminator="\n")
        meta = {
            "dataset": dataset,
            "classes": list(classes),
            "image_size": image_size,
            "splits": {name: int(len(s.labels)) for name, s in splits.items()},
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")  # split order matters


class PreparedStore:
    """Read side of the store; image arrays are memory-mapped, so opening it costs nothing."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        meta_path = self.root / "meta.json"
        if not meta_path.is_file():
            raise UserError(f"{self.root}: no prepared store here (run the prepare stage: dvc repro prepare)")
        self.meta = json.loads(meta_path.read_text())
        self.classes: list[str] = self.meta["classes"]
        self.image_size: int = self.meta["image_size"]
        self.table = pd.read_csv(self.root / "index.csv", dtype={"source": str}, keep_default_na=False)

    @property
    def splits(self) -> list[str]:
        return list(self.meta["splits"])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def rows(self, split: str) -> pd.DataFrame:
        """The table rows of one split, in array order."""
        self._check(split)
        return self.table[self.table["split"] == split].reset_index(drop=True)

    def images(self, split: str) -> np.ndarray:
        self._check(split)
        return np.load(self.root / f"{split}.npy", mmap_mode="r")

    def face(self, split: str) -> np.ndarray | None:
        """Face truth of one split, or None where the dataset does not know it."""
        self._check(split)
        path = self.root / f"{split}_face.npy"
        return np.load(path, mmap_mode="r") if path.is_file() else None

    def _check(self, split: str) -> None:
        if split not in self.meta["splits"]:
            raise UserError(f"{self.root}: no split {split!r} (has {', '.join(self.splits)})")
