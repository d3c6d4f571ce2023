"""AffectNet (Mollahosseini et al., 2017), manually annotated part: 7 or 8 expressions.

    root/training.csv, root/validation.csv      (or under root/Manually_Annotated_file_lists/)
    root/Manually_Annotated_Images/<subDirectory_filePath>   (or the paths relative to root itself)

CSV columns: subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks, expression,
valence, arousal. The face is cropped from the box. Expression codes 0-10: 0-7 as CLASSES, 8 none,
9 uncertain, 10 no-face (dropped, as is contempt for affectnet7). The validation set is the test set.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from .images import integer_table
from .rows import Plan, Rows, decode_file

CLASSES = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt")
DROPPED_CODES = {7: "contempt", 8: "none", 9: "uncertain", 10: "no_face"}
COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression")
CSV_DIRS = (".", "Manually_Annotated_file_lists")
IMAGE_DIRS = ("Manually_Annotated_Images", "Manually_Annotated/Manually_Annotated_Images", ".")
FILES = {"train": "training.csv", "test": "validation.csv"}


def _base(root: Path, dirs, name: str, what: str) -> Path:
    """The first of root/<dirs> that holds `name`."""
    for d in dirs:
        if (root / d / name).exists():
            return root / d
    raise UserError(f"{root}: no {what} (looked for {', '.join(str(Path(d) / name) for d in dirs)})")


def read_csv(path: Path) -> pd.DataFrame:
    """The columns we use, checked: a missing column or a non-integer cell names the file and line."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)} (expected AffectNet's header)")
    table = table[list(COLUMNS)]
    numbers = integer_table(table.iloc[:, 1:], path, 2, "face box and expression must be integers", signed=True)
    out = pd.DataFrame(numbers, columns=list(COLUMNS[1:]))
    out.insert(0, "path", table["subDirectory_filePath"].str.strip())
    return out


def read_affectnet(root: str | Path, size: int, num_classes: int = 7) -> Plan:
    """The train and test (validation) splits with `num_classes` 7 or 8, planned: codes outside the classes
    are dropped here, by name; images are cropped to their box when the store is written."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"prepare.root: {root} is not a folder (point it at the AffectNet data)")
    splits = {}
    image_dir = None
    decode = functools.partial(decode_file, size=size)
    for split, name in FILES.items():
        path = _base(root, CSV_DIRS, name, "AffectNet annotation file") / name
        table = read_csv(path)
        out_of_range = ~table["expression"].between(0, 10)
        if out_of_range.any():
            row = int(np.flatnonzero(out_of_range.to_numpy())[0])
            raise UserError(f"{path}: line {row + 2}: expression {table['expression'].iloc[row]} is not 0-10")
        if image_dir is None and len(table):
            image_dir = _base(root, IMAGE_DIRS, table["path"].iloc[0], f"image of {path}: line 2")
        used = table["expression"].to_numpy() < num_classes
        dropped = Counter(DROPPED_CODES[code] for code in table["expression"].to_numpy()[~used])
        table = table.assign(line=np.arange(len(table)) + 2)[used]
        items = [
            (str(image_dir / r.path), (r.face_x, r.face_y, r.face_width, r.face_height), f"{path}: line {r.line}")
            for r in table.itertuples(index=False)
        ]
        empty = f"{path}: no usable images (dropped: {{dropped}})"
        splits[split] = [Rows(split, decode, items, table["expression"], table["path"].tolist(), dropped, empty)]
    return Plan(list(CLASSES[:num_classes]), splits)
