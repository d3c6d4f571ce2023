"""Reading face images for the dataset adapters, and what an adapter does with a row it cannot use."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def load_image(path: str | Path, size: int, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """A face as uint8 (size, size, 3) RGB: grayscale, RGBA and 16-bit sources alike.

    `box` (x, y, width, height) crops first, clipped to the image. Shrinking uses the area filter (no
    aliasing), enlarging bicubic. Raises ValueError("unreadable" or "empty box") on a bad image.
    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # grayscale, RGBA and 16-bit become 8-bit 3-channel
    if image is None:
        raise ValueError("unreadable")
    if box is not None:
        x, y, w, h = box
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, image.shape[1]), min(y + h, image.shape[0])
        if x1 <= x0 or y1 <= y0:
            raise ValueError("empty box")
        image = image[y0:y1, x0:x1]
    if image.shape[:2] != (size, size):
        shrink = image.shape[0] > size or image.shape[1] > size
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.ascontiguousarray(image[..., ::-1])  # BGR -> RGB


class BadRows:
    """A split's bad rows (missing or undecodable image): by default the first one stops prepare with one
    line naming the file and line; with `skip` each is counted by reason."""

    def __init__(self, skip: bool = False):
        self.skip = skip
        self.dropped: Counter = Counter()

    def __call__(self, reason: str, where: str, what: str) -> None:
        if not self.skip:
            raise UserError(f"{where}: {what} (prepare.bad_rows: skip counts and skips such rows instead)")
        self.dropped[reason] += 1


def integer_table(table: pd.DataFrame, path: Path, first_line: int, what: str, signed: bool = False) -> np.ndarray:
    """The cells of `table` (strings) as int64, or a one-line error naming the file and the first bad line
    (`first_line` is the file line of the table's first row)."""
    bad = ~table.apply(lambda c: c.str.fullmatch(r"-?\d+" if signed else r"\d+")).all(axis=1).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise UserError(f"{path}: line {row + first_line}: {what} (got {','.join(table.iloc[row])})")
    return table.to_numpy(np.int64)
