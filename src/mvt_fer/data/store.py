"""The prepared store: what `prepare` writes and every later stage reads.

    data/prepared/
      meta.json          dataset, classes, image_size, rows per split
      index.csv          one row per image: split, row, label, clean_label, source, subset flags
      <split>.npy        uint8 (N, H, W, 3), memory-mapped by readers
      <split>_face.npy   uint8 (N, H, W), 1 = face pixel (only where the dataset knows it)

One array per split rather than thousands of small files: DVC hashes one file, workers share pages.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..io import atomic_path
from .images import BadRows
from .rows import BLOCK, Bad, DecodePool, Rows

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


@functools.lru_cache
def _npy_header(dtype: str, shape: tuple[int, ...]) -> bytes:
    """What np.save writes before the data. NumPy pads it so that the first axis can grow in place: its
    length does not depend on the number of rows, so rows can be written before the count is known."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _npy_path(folder: str | Path, split: str, key: str) -> Path:
    return Path(folder) / (f"{split}.npy" if key == "image" else f"{split}_{key}.npy")


def _write_rows(decode: Callable, items: Sequence, folder: str, split: str, first: int, capacity: int) -> list:
    """A worker's task: decode `items`, rows `first`... of `split`, and write each array straight to its row
    of folder/<split>[_<key>].npy, laid out for `capacity` rows (pwrite: the pages go to the page cache, no
    image travels back). Returns per row its `Bad`, or ({key: (dtype, shape)} of its arrays, its scalars)."""
    out, files = [], {}
    try:
        for k, item in enumerate(items):
            row = decode(item)
            if isinstance(row, Bad):
                out.append(row)
                continue
            layouts, scalars = {}, {}
            for key, value in row.items():
                if not isinstance(value, np.ndarray):
                    scalars[key] = value
                    continue
                value = np.ascontiguousarray(value)
                layouts[key] = (value.dtype.str, value.shape)
                if key not in files:
                    files[key] = os.open(_npy_path(folder, split, key), os.O_WRONLY | os.O_CREAT, 0o644)
                offset = len(_npy_header(value.dtype.str, (capacity, *value.shape))) + (first + k) * value.nbytes
                if os.pwrite(files[key], value.data, offset) != value.nbytes:
                    raise OSError(f"{_npy_path(folder, split, key)}: short write (disk full?)")
            out.append((layouts, scalars))
    finally:
        for fd in files.values():
            os.close(fd)
    return out


def _finish_npy(path: Path, layout: tuple[str, tuple], rows: list[int], capacity: int) -> None:
    """Give the .npy file its final header and only the kept `rows`, moved up over the dropped ones."""
    dtype, shape = layout
    header = _npy_header(dtype, (len(rows), *shape))
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    assert len(header) == len(_npy_header(dtype, (capacity, *shape)))
    with open(path, "r+b") as f:
        f.write(header)
        for new, old in enumerate(rows):
            if new != old:  # only after a dropped row; rows only ever move towards the start
                f.seek(len(header) + old * size)
                row = f.read(size)
                f.seek(len(header) + new * size)
                f.write(row)
        f.truncate(len(header) + len(rows) * size)


def write_split(folder: Path, name: str, parts: list[Rows], pool: DecodePool, skip_bad_rows: bool = False):
    """Decode the rows of split `name` (its parts in order) in `pool`, each image written by its worker
    straight into folder/<name>.npy (and face truth into <name>_face.npy); dropped rows are compacted away at
    the end, so memory stays flat and the files are what np.save writes for the kept rows. Returns (the
    split's table, or None if every part was empty and may be left out; {part: {"kept", "dropped"}}). A bad
    row stops it (UserError naming file and line) unless `skip_bad_rows`; the caller writes into a temporary
    folder (prepare: atomic_path) that it removes then."""
    capacity = sum(len(part.items) for part in parts)
    layouts: dict[str, tuple] = {}
    kept_rows, labels, sources, scalars, report = [], [], [], {}, {}
    first = 0
    for part in parts:
        bad = BadRows(skip_bad_rows)
        bad.dropped.update(part.dropped)
        kept = 0
        tasks = (
            (part.decode, part.items[s : s + BLOCK], str(folder), name, first + s, capacity)
            for s in range(0, len(part.items), BLOCK)
        )
        for i, row in enumerate(itertools.chain.from_iterable(pool.map(_write_rows, tasks))):
            if isinstance(row, Bad):
                if row.fatal:
                    raise UserError(f"{row.where}: {row.what}")
                bad(row.reason, row.where, row.what)
                continue
            for key, layout in row[0].items():
                if layouts.setdefault(key, layout) != layout:
                    raise ValueError(f"{name}: row {first + i}: {key} is {layout}, earlier rows {layouts[key]}")
            for key, value in row[1].items():
                scalars.setdefault(key, []).append(value)
            kept_rows.append(first + i)
            labels.append(part.labels[i])
            sources.append(part.sources[i])
            kept += 1
        if not kept and part.empty is not None:
            raise UserError(part.empty.replace("{dropped}", str(dict(bad.dropped) or "none")))
        report[part.name] = {"kept": kept, "dropped": dict(sorted(bad.dropped.items()))}
        first += len(part.items)
    for key, layout in layouts.items():
        _finish_npy(_npy_path(folder, name, key), layout, kept_rows, capacity)
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
            with DecodePool(1) as pool:
                write_split(tmp, name, [rows], pool)
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
