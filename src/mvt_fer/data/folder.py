"""Any class-folder tree: root/<split>/<class>/<image>, e.g. root/train/happy/0001.jpg.

Splits are train, val (also: valid, validation) and test; train and test must exist. Class folders
that name an expression (angry, happy, Surprised, ...) become their canonical names, so models and
test sets from different datasets can be matched by name; other names are kept as they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from .classes import CANONICAL, canonical
from .images import IMAGE_SUFFIXES, BadRows, stack
from .store import SplitData

SPLIT_NAMES = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}


def class_order(names: set[str]) -> list[str]:
    """Canonical expressions in their usual order, then any other class names sorted."""
    known = [c for c in CANONICAL if c in names]
    return known + sorted(names - set(known))


def read_folder(
    root: str | Path, size: int, skip_bad_rows: bool = False
) -> tuple[list[str], dict[str, SplitData], dict]:
    """(classes, splits, report) of a class-folder tree."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"prepare.root: {root} is not a folder (expected root/<split>/<class>/<image>)")
    split_dirs = {}
    for split, names in SPLIT_NAMES.items():
        found = [root / n for n in names if (root / n).is_dir()]
        if found:
            split_dirs[split] = found[0]
        elif split != "val":
            raise UserError(f"{root}: no {split}/ folder (expected root/<split>/<class>/<image>)")
    files: dict[str, list[tuple[str, Path]]] = {}
    for split, folder in split_dirs.items():
        files[split] = []
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            name = canonical(class_dir.name) or class_dir.name
            files[split] += [
                (name, f) for f in sorted(class_dir.rglob("*")) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
            ]
    classes = class_order({name for entries in files.values() for name, _ in entries})
    index = {c: i for i, c in enumerate(classes)}
    splits, report = {}, {}
    for split, entries in files.items():
        bad = BadRows(skip_bad_rows)
        images, labels, sources = [], [], []
        for name, path in entries:
            image = bad.load(path, size, str(path))
            if image is None:
                continue
            images.append(image)
            labels.append(index[name])
            sources.append(str(path.relative_to(root)))
        if not labels:
            if split == "val":  # an empty validation folder is no validation split
                continue
            raise UserError(f"{split_dirs[split]}: no usable images in any class folder")
        labels = np.asarray(labels, np.int64)
        splits[split] = SplitData(images=stack(images, size), labels=labels, clean_labels=labels, sources=sources)
        report[split] = {"kept": len(labels), "dropped": dict(sorted(bad.dropped.items()))}
    missing = sorted(set(classes) - {classes[i] for i in splits["train"].labels})
    if missing:
        raise UserError(f"{split_dirs['train']}: no training images of class(es) {', '.join(missing)}")
    return classes, splits, report
