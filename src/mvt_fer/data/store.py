"""The prepared store: what `prepare` writes and every later stage reads.

    data/prepared/
      meta.json          dataset, classes, image_size, rows per split
      index.csv          one row per image: split, row, label, clean_label, source, subset flags
      <split>.npy        uint8 (N, H, W, 3), memory-mapped by readers
      <split>_face.npy   uint8 (N, H, W), 1 = face pixel (only where the dataset knows it)

One array per split rather than thousands of small files: DVC hashes one file, workers share pages.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..io import atomic_path
from .images import BadRows
from .rows import Bad, Rows, decoded

SUBSETS = ("occluded", "pose_gt30", "pose_gt45")
COLUMNS = ("split", "row", "label", "clean_label", "source", *SUBSETS)


@dataclass
class SplitData:
    """One split's rows as index.csv holds them; `images` and `face` only where a split is held in memory
    (tests, `write_store`): prepare streams images into the store and never holds them."""

    labels: np.ndarray  # (N,) int64, possibly noisy
    clean_labels: np.ndarray  # (N,) int64
    sources: list[str]
    flags: dict[str, np.ndarray] = field(default_factory=dict)  # subset name -> (N,) bool
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # more per-row columns (e.g. yaw)
    images: np.ndarray | None = None  # (N, H, W, 3) uint8
    face: np.ndarray | None = None  # (N, H, W) uint8 face truth


class _NpyRows:
    """A .npy file written row by row with plain writes (the pages go to the page cache, not this process's
    memory), its header sized for `capacity` rows and rewritten at `close` for the rows written. NumPy pads
    the header so that the first axis can grow in place, so the rewrite never moves the data, and the file
    is byte for byte what np.save writes for the same array."""

    def __init__(self, path: Path, row: np.ndarray, capacity: int):
        self.path, self.row_shape, self.dtype, self.rows = path, row.shape, row.dtype, 0
        self.file = open(path, "wb")  # noqa: SIM115 (closed in close())
        self.header = self._header(capacity)
        self.file.write(self.header)

    def _header(self, n: int) -> bytes:
        buf = io.BytesIO()
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (n, *self.row_shape),
        }
        np.lib.format.write_array_header_1_0(buf, header)
        return buf.getvalue()

    def append(self, row: np.ndarray) -> None:
        if row.shape != self.row_shape or row.dtype != self.dtype:
            raise ValueError(
                f"{self.path.name}: row {self.rows} is {row.dtype} {row.shape}, not {self.dtype} {self.row_shape}"
            )
        self.file.write(np.ascontiguousarray(row).data)
        self.rows += 1

    def close(self) -> None:
        header = self._header(self.rows)
        if len(header) != len(self.header):  # cannot happen with NumPy's growth padding; never write a bad file
            raise RuntimeError(f"{self.path}: the .npy header changed length")
        self.file.seek(0)
        self.file.write(header)
        self.file.truncate(len(header) + self.rows * int(np.prod(self.row_shape)) * self.dtype.itemsize)
        self.file.close()


def write_split(folder: Path, name: str, parts: list[Rows], workers: int = 1, skip_bad_rows: bool = False):
    """Decode the rows of split `name` (its parts in order) in `workers` processes, writing each image into
    folder/<name>.npy (and face truth into <name>_face.npy) as it arrives: dropped rows are never written,
    so the kept ones lie contiguous and memory stays flat. Returns (the split's table, or None if every part
    was empty and may be left out; {part: {"kept", "dropped"}}). A bad row stops it (UserError naming file
    and line) unless `skip_bad_rows`; the caller writes into a temporary folder (prepare: atomic_path)."""
    capacity = sum(len(part.items) for part in parts)
    files: dict[str, _NpyRows] = {}
    labels, sources, scalars, report = [], [], {}, {}
    try:
        for part in parts:
            bad = BadRows(skip_bad_rows)
            bad.dropped.update(part.dropped)
            kept = 0
            with contextlib.closing(decoded(part.decode, part.items, workers)) as rows:
                for i, row in enumerate(rows):
                    if isinstance(row, Bad):
                        if row.fatal:
                            raise UserError(f"{row.where}: {row.what}")
                        bad(row.reason, row.where, row.what)
                        continue
                    for key, value in row.items():
                        if isinstance(value, np.ndarray):
                            if key not in files:
                                path = folder / (f"{name}.npy" if key == "image" else f"{name}_{key}.npy")
                                files[key] = _NpyRows(path, value, capacity)
                            files[key].append(value)
                        else:
                            scalars.setdefault(key, []).append(value)
                    labels.append(part.labels[i])
                    sources.append(part.sources[i])
                    kept += 1
            if not kept and part.empty is not None:
                raise UserError(part.empty.replace("{dropped}", str(dict(bad.dropped) or "none")))
            report[part.name] = {"kept": kept, "dropped": dict(sorted(bad.dropped.items()))}
    finally:
        for f in files.values():
            f.close()
    if not labels:
        return None, report
    labels = np.asarray(labels, np.int64)
    columns = {k: np.asarray(v) for k, v in scalars.items()}
    table = SplitData(
        labels=labels,
        clean_labels=labels,
        sources=sources,
        flags={k: columns.pop(k) for k in SUBSETS if k in columns},
        extra=columns,
    )
    return table, report


def write_index(folder: Path, dataset: str, classes: list[str], image_size: int, splits: dict[str, SplitData]) -> None:
    """index.csv (one row per image) and meta.json, beside the split arrays in `folder`."""
    tables = []
    for name, s in splits.items():
        n = len(s.labels)
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
    pd.concat(tables, ignore_index=True).to_csv(folder / "index.csv", index=False, lineterminator="\n")
    meta = {
        "dataset": dataset,
        "classes": list(classes),
        "image_size": image_size,
        "splits": {name: int(len(s.labels)) for name, s in splits.items()},
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")  # split order matters


def _array_row(images: np.ndarray, face: np.ndarray | None, i: int) -> dict:
    return {"image": images[i]} | ({"face": face[i].astype(np.uint8)} if face is not None else {})


def write_store(root: str | Path, dataset: str, classes: list[str], splits: dict[str, SplitData]) -> None:
    """Write splits held in memory as a store, atomically (through `write_split`, as prepare does)."""
    with atomic_path(root) as tmp:
        tmp.mkdir()
        for name, s in splits.items():
            n = len(s.labels)
            if s.images is None or s.images.dtype != np.uint8 or s.images.ndim != 4 or s.images.shape[::3] != (n, 3):
                raise ValueError(f"split {name}: images must be uint8 (N, H, W, 3) with N = {n}")
            rows = Rows(name, functools.partial(_array_row, s.images, s.face), range(n), s.labels, s.sources)
            write_split(tmp, name, [rows])
        write_index(tmp, dataset, classes, splits[next(iter(splits))].images.shape[1], splits)


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
