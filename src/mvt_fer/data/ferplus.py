"""FERPlus: the FER2013 images with the FERPlus crowd labels (Barsoum et al., 2016).

Reads either layout:

    root/FER2013Train/label.csv, root/FER2013Train/fer0000000.png, ...   (what FERPlus's own
    root/FER2013Valid/..., root/FER2013Test/...                           generate_training_data.py writes)

    root/fer2013.csv (emotion, pixels, Usage) + root/fer2013new.csv (Usage, Image name, ten vote counts)

`label.csv` has no header; each line is `fer0000000.png,"(0, 0, 48, 48)",v0,...,v9` with ten vote counts
in the order of VOTE_COLUMNS. Labels are the majority vote of FERPlus's reference code (`majority_vote`).
Usage Training / PublicTest / PrivateTest are the Train / Valid / Test folders.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..errors import UserError
from .images import BadRows, integer_table, stack
from .store import SplitData

CLASSES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
VOTE_COLUMNS = (*CLASSES, "unknown", "NF")
FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
CSV_FILES = ("fer2013.csv", "fer2013new.csv")
USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}


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
    votes = integer_table(table.iloc[:, 2:], path, 1, "vote counts must be non-negative integers")
    out = pd.DataFrame(votes, columns=list(VOTE_COLUMNS))
    out.insert(0, "image", table.iloc[:, 0].str.strip())
    return out


def read_split(folder: Path, size: int, skip_bad_rows: bool = False) -> tuple[SplitData, Counter]:
    """The kept images of one FERPlus folder, in label.csv order, and the dropped rows by reason."""
    table = read_label_csv(folder / "label.csv")
    labels, reasons = majority_vote(table[list(VOTE_COLUMNS)].to_numpy())
    bad = BadRows(skip_bad_rows)
    bad.dropped.update(r for r in reasons if r)
    images, kept_labels, sources = [], [], []
    for number, (name, label) in enumerate(zip(table["image"], labels), 1):
        if label < 0:
            continue
        image = bad.load(folder / name, size, f"{folder / 'label.csv'}: line {number}")
        if image is None:
            continue
        images.append(image)
        kept_labels.append(label)
        sources.append(f"{folder.name}/{name}")
    kept_labels = np.asarray(kept_labels, np.int64)
    return SplitData(stack(images, size), kept_labels, kept_labels, sources), bad.dropped


def read_csv_layout(root: Path, size: int) -> tuple[dict[str, SplitData], dict[str, Counter]]:
    """FER2013's `fer2013.csv` (emotion, pixels, Usage) with FERPlus's `fer2013new.csv` votes, row by row."""
    pixels_path, votes_path = root / CSV_FILES[0], root / CSV_FILES[1]
    fer = pd.read_csv(pixels_path, dtype=str, keep_default_na=False)
    new = pd.read_csv(votes_path, dtype=str, keep_default_na=False)
    for path, table, columns in (
        (pixels_path, fer, ("pixels", "Usage")),
        (votes_path, new, ("Usage", "Image name", *VOTE_COLUMNS)),
    ):
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise UserError(f"{path}: missing column(s) {', '.join(missing)}")
    if len(fer) != len(new):
        raise UserError(
            f"{pixels_path} has {len(fer)} rows but {votes_path} {len(new)}: "
            "they must come from the same FER2013 release"
        )
    mismatch = np.flatnonzero(fer["Usage"].str.strip().to_numpy() != new["Usage"].str.strip().to_numpy())
    if len(mismatch):
        raise UserError(
            f"{votes_path}: line {mismatch[0] + 2}: Usage {new['Usage'].iloc[mismatch[0]]!r} but "
            f"{pixels_path} says {fer['Usage'].iloc[mismatch[0]]!r}"
        )
    votes = integer_table(new[list(VOTE_COLUMNS)], votes_path, 2, "vote counts must be non-negative integers")
    labels, reasons = majority_vote(votes)
    splits, dropped = {}, {}
    for split, usage in USAGE.items():
        rows = np.flatnonzero(new["Usage"].str.strip().to_numpy() == usage)
        dropped[split] = Counter(reasons[i] for i in rows if reasons[i])
        images, kept, sources = [], [], []
        for i in rows:
            if labels[i] < 0:
                continue
            values = fer["pixels"].iloc[i].split()
            if len(values) != 48 * 48 or not all(v.isdigit() and int(v) <= 255 for v in values):
                raise UserError(f"{pixels_path}: line {i + 2}: pixels must be 2304 integers 0-255")
            gray = np.asarray(values, np.int64).astype(np.uint8).reshape(48, 48)
            image = (
                cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA if size < 48 else cv2.INTER_CUBIC)
                if size != 48
                else gray
            )
            images.append(np.repeat(image[..., None], 3, axis=2))
            kept.append(labels[i])
            sources.append(new["Image name"].iloc[i].strip() or f"{CSV_FILES[0]}:{i + 2}")
        kept = np.asarray(kept, np.int64)
        splits[split] = SplitData(stack(images, size), kept, kept, sources)
    return splits, dropped


def read_ferplus(
    root: str | Path, size: int, valid_as: str, skip_bad_rows: bool = False
) -> tuple[dict[str, SplitData], dict]:
    """All three splits from either layout; with `valid_as="train"` the validation images join the
    training split (and there is no val split).

    Returns the splits and a report {split: {"kept": n, "dropped": {reason: n}}}.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"prepare.root: {root} is not a folder (point it at the FERPlus data)")
    if (root / FOLDERS["train"]).is_dir() or not all((root / f).is_file() for f in CSV_FILES):
        read = {name: read_split(root / folder, size, skip_bad_rows) for name, folder in FOLDERS.items()}
        splits, dropped = {k: v[0] for k, v in read.items()}, {k: v[1] for k, v in read.items()}
    else:
        splits, dropped = read_csv_layout(root, size)
    report = {
        name: {"kept": len(s.labels), "dropped": dict(sorted(dropped[name].items()))} for name, s in splits.items()
    }
    for name, s in splits.items():
        if not len(s.labels):
            raise UserError(
                f"{root}: no usable images in split {name!r} (dropped: {dict(dropped[name]) or 'none listed'})"
            )
    if valid_as == "train":
        val, train = splits.pop("val"), splits["train"]
        labels = np.concatenate([train.labels, val.labels])
        splits["train"] = SplitData(
            np.concatenate([train.images, val.images]), labels, labels, train.sources + val.sources
        )
    return splits, report
