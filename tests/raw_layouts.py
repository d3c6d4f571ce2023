"""Raw dataset layouts written by tests (no real images needed), shared by the adapter and pipeline tests."""

from __future__ import annotations

import cv2
import numpy as np

from mvt_fer.data import rafdb


def rafdb_tree(root, rows, crlf=False):
    """RAF-DB's basic layout: EmoLabel/ with `rows` (name, label 1-7), one 100 x 100 aligned image per row,
    row i red 30 i."""
    (root / "EmoLabel").mkdir(parents=True)
    (root / "Image" / "aligned").mkdir(parents=True)
    for i, (name, _) in enumerate(rows):
        stem = name.removesuffix(".jpg")
        colour = np.zeros((100, 100, 3), np.uint8)
        colour[..., 2] = 30 * i  # red in OpenCV's BGR order
        cv2.imwrite(str(root / "Image" / "aligned" / f"{stem}_aligned.jpg"), colour)
    newline = "\r\n" if crlf else "\n"
    (root / rafdb.LABEL_FILE).write_text(newline.join(f"{n} {label}" for n, label in rows))  # no final newline
