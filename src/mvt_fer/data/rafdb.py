"""RAF-DB basic (Li et al., 2017): seven expressions, a train and a test split.

root/EmoLabel/list_patition_label.txt     lines 'train_00001.jpg 5' (labels 1-7, see CLASSES)
root/Image/aligned/train_00001_aligned.jpg  (or root/Image/original/train_00001.jpg)
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..errors import UserError
from .rows import Plan, Rows, decode_file

CLASSES = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")  # labels 1..7
LABEL_FILE = Path("EmoLabel/list_patition_label.txt")  # sic: the dataset's own spelling


def read_rafdb(root: str | Path, size: int, images: str = "aligned") -> Plan:
    """The train and test splits, planned. `images` picks the aligned 100x100 faces or the original photos."""
    root = Path(root)
    label_file = root / LABEL_FILE
    if not label_file.is_file():
        raise UserError(f"{label_file}: missing (is prepare.root the RAF-DB 'basic' folder?)")
    out = {"train": ([], [], []), "test": ([], [], [])}
    for number, line in enumerate(label_file.read_text(errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{label_file}: line {number}"
        if len(fields) != 2 or not fields[1].isdigit() or not 1 <= int(fields[1]) <= len(CLASSES):
            raise UserError(f"{where}: expected '<split>_<n>.jpg <label 1-7>', got {line.strip()!r}")
        name, label = fields[0], int(fields[1]) - 1
        split = name.split("_", 1)[0]
        if split not in out:
            raise UserError(f"{where}: {name!r} is neither train_* nor test_*")
        stem = Path(name).stem
        rel = Path("Image/aligned") / f"{stem}_aligned.jpg" if images == "aligned" else Path("Image/original") / name
        out[split][0].append((str(root / rel), None, where))
        out[split][1].append(label)
        out[split][2].append(str(rel))
    decode = functools.partial(decode_file, size=size)
    empty = f"{label_file}: no usable {{split}} images under {root / 'Image' / images}"
    return Plan(
        list(CLASSES),
        {split: [Rows(split, decode, *rows, empty=empty.replace("{split}", split))] for split, rows in out.items()},
    )
