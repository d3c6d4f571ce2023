"""Any class-folder tree: root/<split>/<class>/<image>, e.g. root/train/happy/0001.jpg.

Splits are train, val (also: valid, validation) and test; train and test must exist. Class folders
that name an expression (angry, happy, Surprised, ...) become their canonical names, so models and
test sets from different datasets can be matched by name; other names are kept as they are.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..errors import UserError
from .classes import CANONICAL, canonical
from .images import IMAGE_SUFFIXES
from .rows import Plan, Rows, decode_file

SPLIT_NAMES = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}


def class_order(names: set[str]) -> list[str]:
    """Canonical expressions in their usual order, then any other class names sorted."""
    known = [c for c in CANONICAL if c in names]
    return known + sorted(names - set(known))


def read_folder(root: str | Path, size: int) -> Plan:
    """A class-folder tree, planned."""
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
    decode = functools.partial(decode_file, size=size)
    splits = {
        split: [
            Rows(
                split,
                decode,
                [(str(path), None, str(path)) for _, path in entries],
                [index[name] for name, _ in entries],
                [str(path.relative_to(root)) for _, path in entries],
                # an empty validation folder is no validation split
                empty=None if split == "val" else f"{split_dirs[split]}: no usable images in any class folder",
            )
        ]
        for split, entries in files.items()
    }

    def every_class_trains(decoded: dict) -> None:
        missing = sorted(set(classes) - {classes[i] for i in decoded["train"].labels})
        if missing:
            raise UserError(f"{split_dirs['train']}: no training images of class(es) {', '.join(missing)}")

    return Plan(classes, splits, every_class_trains)
