"""RAF-DB basic (Li et al., 2017): seven expressions, a train and a test split.

root/EmoLabel/list_patition_label.txt     lines 'train_00001.jpg 5' (labels 1-7, see CLASSES)
root/Image/aligned/train_00001_aligned.jpg  (or root/Image/original/train_00001.jpg)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from .images import BadRows, stack
from .store import SplitData

CLASSES = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")  # labels 1..7
LABEL_FILE = Path("EmoLabel/list_patition_label.txt")  # sic: the dataset's own spelling


def read_rafdb(
    root: str | Path, size: int, images: str = "aligned", skip_bad_rows: bool = False
) -> tuple[dict[str, SplitData], dict]:
    """The train and test splits, and what was kept and dropped per split: {split: {"kept", "dropped"}}.

    `images` picks the aligned 100x100 faces or the original photos."""
    root = Path(root)
    label_file = root / LABEL_FILE
    if not label_file.is_file():
        raise UserError(f"{label_file}: missing (is prepare.root the RAF-DB 'basic' folder?)")
    bad = {"train": BadRows(skip_bad_rows), "test": BadRows(skip_bad_rows)}
    out = {split: ([], [], []) for split in bad}
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
        image = bad[split].load(root / rel, size, where)
        if image is None:
            continue
        out[split][0].append(image)
        out[split][1].append(label)
        out[split][2].append(str(rel))
    splits, report = {}, {}
    for split, (imgs, labels, sources) in out.items():
        if not labels:
            raise UserError(f"{label_file}: no usable {split} images under {root / 'Image' / images}")
        labels = np.asarray(labels, np.int64)
        splits[split] = SplitData(images=stack(imgs, size), labels=labels, clean_labels=labels, sources=sources)
        report[split] = {"kept": len(labels), "dropped": dict(sorted(bad[split].dropped.items()))}
    return splits, report
