"""What a dataset adapter hands `prepare`: rows to decode, not decoded images.

An adapter reads only its label files and plans each split as `Rows`: one small picklable item per image
(a path and a face box, a pixel string, a generator index) with the label and source it already knows.
`store.write_split` decodes the items in worker processes and writes each image straight into the store,
so memory does not grow with the number of images (AffectNet-8 is ~291,000 faces, 43 GB at 224 px).
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .images import load_image

BLOCK = 32  # rows per worker task: amortises the hand-over
AHEAD = 2  # blocks in flight per worker
PR_SET_PDEATHSIG = 1  # Linux prctl option: the signal a process gets when its parent dies
_LIBC = ctypes.CDLL(None)  # loaded before any fork: a child must not dlopen while another thread may hold its lock


@dataclass(frozen=True)
class Bad:
    """A row that cannot be used: its drop reason (counted under `prepare.bad_rows: skip`), where it is
    (file and line) and what is wrong. A `fatal` row stops prepare whatever bad_rows says."""

    reason: str
    where: str
    what: str
    fatal: bool = False


Decoded = dict[str, Any]  # "image" (H, W, 3) uint8; optional "face" (H, W) uint8; any per-row scalars


@dataclass
class Rows:
    """One part of a split, planned: `decode(item)` gives the row's image (a `Decoded`) or a `Bad`.

    `decode` must be picklable (a module-level function or a functools.partial of one): worker processes
    run it. Rows the adapter dropped from its label file already are counted in `dropped`. `empty` is the
    error when no row of the part survives decoding ('{dropped}' is filled in); None leaves an empty part out.
    """

    name: str
    decode: Callable[[Any], Decoded | Bad]
    items: Sequence
    labels: np.ndarray
    sources: list[str]
    dropped: Counter = field(default_factory=Counter)
    empty: str | None = None

    def __post_init__(self):
        self.labels = np.asarray(self.labels, np.int64)
        if not len(self.items) == len(self.labels) == len(self.sources):
            raise ValueError(f"{self.name}: {len(self.items)} items, {len(self.labels)} labels, {len(self.sources)}")


@dataclass
class Plan:
    """A dataset, planned: its classes, each split's parts (concatenated in order), and an optional check
    of the decoded splits (e.g. every class has a training image)."""

    classes: list[str]
    splits: dict[str, list[Rows]]
    check: Callable[[dict], None] | None = None


def decode_file(item: tuple[str, tuple[int, int, int, int] | None, str], size: int) -> Decoded | Bad:
    """Decode for image files: item (path, face box or None, where: the label-file line that names it)."""
    path, box, where = item
    subject = "the image" if where == path else f"image {path}"  # a row of a label file names both
    if not os.path.isfile(path):
        return Bad("image_missing", where, f"{subject} is missing")
    try:
        return {"image": load_image(Path(path), size, box)}
    except ValueError as err:
        if str(err) == "unreadable":
            return Bad("image_unreadable", where, f"{subject} cannot be decoded")
        return Bad("bad_box", where, f"face box {box} lies outside {subject}")


def default_workers() -> int:
    """`prepare.workers: null`: every core this process may use."""
    return len(os.sched_getaffinity(0))


def _worker_init(parent: int) -> None:
    # A worker dies with prepare, even one killed with SIGKILL (it would wait for work forever otherwise).
    with contextlib.suppress(AttributeError):
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # prepare died before the line above
        os._exit(1)


class DecodePool:
    """`workers` processes that decode rows, each on one core (1: this process decodes, on one core).

    The workers are forked when the pool is made, before prepare reads any label file: a forked process
    counts its parent's pages in its own resident size, so they would otherwise each seem to hold the plan.
    The stage that makes the pool has not imported torch (stage.py), so they start small and fast.
    """

    def __init__(self, workers: int):
        self.workers, self.executor = workers, None
        # One core per worker: OpenCV's own threads would fight the other workers. Set before the fork: the
        # workers inherit it, and setNumThreads in a forked child can hang on its parent's thread pool.
        self.threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        if workers > 1:
            fork = multiprocessing.get_context("fork")
            self.executor = ProcessPoolExecutor(
                workers, mp_context=fork, initializer=_worker_init, initargs=(os.getpid(),)
            )
            self.executor.submit(int).result()  # fork them now

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
        cv2.setNumThreads(self.threads)

    def map(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator:
        """fn(*task) for every task, in order. At most AHEAD tasks per worker are in flight, so memory stays
        flat however many there are; when the caller stops early, none is still running afterwards."""
        if self.executor is None:
            yield from (fn(*task) for task in tasks)
            return
        pending: deque = deque()
        try:
            for task in tasks:
                pending.append(self.executor.submit(fn, *task))
                if len(pending) >= AHEAD * self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            wait(pending)
