"""FERPlus: the FER2013 images with the FERPlus crowd labels (Barsoum et al., 2016).

Reads the layout FERPlus's own `generate_training_data.py` writes:

    root/FER2013Train/label.csv, root/FER2013Train/fer0000000.png, ...
    root/FER2013Valid/..., root/FER2013Test/...

`label.csv` has no header; each line is `fer0000000.png,"(0, 0, 48, 48)",v0,...,v9` with ten vote counts
in the order of VOTE_COLUMNS. Labels are the majority vote of FERPlus's reference code (`majority_vote`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..errors import UserError

CLASSES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
VOTE_COLUMNS = (*CLASSES, "unknown", "NF")
FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}


def majority_vote(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FERPlus's 'majority' labels for vote rows (N, 10): (labels (N,), drop reasons (N,) of str).

    As in FERPlus's `_process_data`: a single vote for an emotion is an outlier and is removed; the winner
    needs more than half of the remaining votes; a row without such a winner, or whose winner is `unknown`
    or `NF` (not a face), is dropped. Kept rows have label 0-7 and reason ""; dropped rows label -1.
    """
    votes = np.where(votes <= 1, 0, votes)
    total = votes.sum(1)
    winner = votes.argmax(1)
    majority = votes.max(1) > 0.5 * total
    reason = np.full(len(votes), "", dtype=object)
    reason[~majority] = "no_majority"
    reason[majority & (winner == VOTE_COLUMNS.index("unknown"))] = "unknown"
    reason[majority & (winner == VOTE_COLUMNS.index("NF"))] = "not_a_face"
    return np.where(reason == "", winner, -1), reason


def read_label_csv(path: Path) -> pd.DataFrame:
    """One folder's label.csv as a table (image, votes...), with a one-line error naming a bad row."""
    if not path.is_file():
        raise UserError(f"{path}: missing (expected FERPlus's label.csv; is prepare.root the FERPlus folder?)")
    table = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    if table.shape[1] != 2 + len(VOTE_COLUMNS):
        raise UserError(f"{path}: {table.shape[1]} columns, expected 12 (image, box, ten vote counts)")
    votes = table.iloc[:, 2:]
    bad = ~votes.apply(lambda c: c.str.fullmatch(r"\d+")).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserError(f"{path}: line {row + 1}: vote counts must be non-negative integers "
                        f"(got {','.join(votes.iloc[row])})")
    out = pd.DataFrame(votes.to_numpy(np.int64), columns=list(VOTE_COLUMNS))
    out.insert(0, "image", table.iloc[:, 0].str.strip())
    return out


def load_image(path: Path, size: int) -> np.ndarray:
    """A face as uint8 (size, size, 3): grayscale and colour sources alike, area filter when shrinking."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # grayscale, RGBA and 16-bit become 8-bit 3-channel
    if image is None:
        raise ValueError("unreadable")
    if image.shape[:2] != (size, size):
        shrink = image.shape[0] > size or image.shape[1] > size
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.ascontiguousarray(image[..., ::-1])  # BGR -> RGB


@dataclass
class FolderSplit:
    images: np.ndarray
    labels: np.ndarray
    sources: list[str]
    dropped: Counter = field(default_factory=Counter)


def read_split(folder: Path, size: int) -> FolderSplit:
    """The kept images of one FERPlus folder, in label.csv order, and the dropped rows by reason."""
    table = read_label_csv(folder / "label.csv")
    labels, reasons = majority_vote(table[list(VOTE_COLUMNS)].to_numpy())
    dropped = Counter(r for r in reasons if r)
    images, kept_labels, sources = [], [], []
    for name, label in zip(table["image"], labels):
        if label < 0:
            continue
        path = folder / name
        if not path.is_file():
            dropped["image_missing"] += 1
            continue
        try:
            images.append(load_image(path, size))
        except ValueError:
            dropped["image_unreadable"] += 1
            continue
        kept_labels.append(label)
        sources.append(f"{folder.name}/{name}")
    stack = np.stack(images) if images else np.empty((0, size, size, 3), np.uint8)
    return FolderSplit(stack, np.asarray(kept_labels, np.int64), sources, dropped)


def read_ferplus(root: str | Path, size: int, valid_as: str) -> tuple[dict[str, FolderSplit], dict]:
    """All three folders; with `valid_as="train"` FER2013Valid joins the training split (and no val split).

    Returns the splits and a report {split: {"kept": n, "dropped": {reason: n}}}.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"prepare.root: {root} is not a folder (point it at the FERPlus data)")
    splits = {name: read_split(root / folder, size) for name, folder in FOLDERS.items()}
    report = {name: {"kept": len(s.labels), "dropped": dict(sorted(s.dropped.items()))} for name, s in splits.items()}
    for name, s in splits.items():
        if not len(s.labels):
            raise UserError(f"{root / FOLDERS[name]}: no usable images in split {name!r} "
                            f"(dropped: {dict(s.dropped) or 'none listed'})")
    if valid_as == "train":
        val = splits.pop("val")
        train = splits["train"]
        splits["train"] = FolderSplit(np.concatenate([train.images, val.images]),
                                      np.concatenate([train.labels, val.labels]),
                                      train.sources + val.sources, train.dropped + val.dropped)
    return splits, report
