"""FERPlus: the FER2013 images with the FERPlus crowd labels (Barsoum et al., 2016).

Reads either layout:

    root/FER2013Train/label.csv, root/FER2013Train/fer0000000.png, ...   (what FERPlus's own
    root/FER2013Valid/..., root/FER2013Test/...                           generate_training_data.py writes)

    root/fer2013.csv (emotion, pixels, Usage) + root/fer2013new.csv (Usage, Image name, ten vote counts)

`label.csv` has no header; each line is `fer0000000.png,"(0, 0, 48, 48)",v0,...,v9` with ten vote counts
in the order of VOTE_COLUMNS. Labels are the majority vote of FERPlus's reference code (`majority_vote`).
Usage Training / PublicTest / PrivateTest are the Train / Valid / Test folders. Every kept row also keeps
its eight emotion vote counts (index.csv columns `votes_<class>`): losses.vote_distribution turns them into
the training target of `mvt.targets: votes`.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..errors import UserError
from .images import integer_table
from .rows import Bad, Decoded, Plan, Rows, decode_file

CLASSES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
VOTE_COLUMNS = (*CLASSES, "unknown", "NF")
VOTES = tuple(f"votes_{c}" for c in CLASSES)  # the prepared store's columns
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


def distribution_vote(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows FERPlus's reference code trains on in its vote-distribution modes ("probability",
    "crossentropy"), as `majority_vote` returns them: (labels (N,), drop reasons (N,) of str).

    Single votes are outliers, as for the majority. Then the most-voted entries are taken, ties together,
    until they hold three quarters of the votes or three entries are taken; unknown or not-a-face ends the
    taking (and drops the row if it comes first). A row is kept if what was taken holds more than half of the
    votes in at most three entries (a row without a majority that is not: reason "votes_spread"); its label
    is its most-voted emotion (the first on a tie), which for a row with a majority is the majority label.
    Barsoum et al. (2016) trained on these rows for their best FERPlus results; val and test keep the
    majority rows (as evaluation there does).
    """
    votes = np.where(votes <= 1, 0, votes)
    labels, reasons = majority_vote(votes)
    for n in np.flatnonzero(reasons == "no_majority"):
        row = votes[n]
        taken, count, first = 0, 0, None
        for value in sorted(set(row[row > 0].tolist()), reverse=True):
            if taken >= 0.75 * row.sum() or count >= 3:
                break
            members = np.flatnonzero(row == value)
            emotions = members[members < len(CLASSES)]
            first = members[0] if first is None else first
            taken += value * len(emotions)
            count += len(emotions)
            if len(emotions) < len(members):  # unknown or not-a-face ends it
                break
        kept = first is not None and first < len(CLASSES) and taken > 0.5 * row.sum() and count <= 3
        labels[n], reasons[n] = (first, "") if kept else (-1, "votes_spread")
    return labels, reasons


def split_labels(votes: np.ndarray, train_rows: str) -> tuple[np.ndarray, np.ndarray]:
    """A split's labels and drop reasons by its rule: `majority_vote`, or `distribution_vote` ("votes")."""
    return distribution_vote(votes) if train_rows == "votes" else majority_vote(votes)


def with_votes(item: tuple, decode) -> Decoded | Bad:
    """`decode` of (its item, the row's eight emotion vote counts): the votes ride along as per-row scalars."""
    inner, votes = item
    row = decode(inner)
    return row if isinstance(row, Bad) else row | {name: int(v) for name, v in zip(VOTES, votes)}


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


def read_split(folder: Path, size: int, name: str = "", rows: str = "majority") -> Rows:
    """One FERPlus folder, planned: the rows with a label by `rows` (`split_labels`), in label.csv order, and
    the rows the vote drops, by reason."""
    table = read_label_csv(folder / "label.csv")
    labels, reasons = split_labels(table[list(VOTE_COLUMNS)].to_numpy(), rows)
    kept = np.flatnonzero(labels >= 0)
    votes = table[list(CLASSES)].to_numpy()
    items = [
        ((str(folder / table["image"].iloc[i]), None, f"{folder / 'label.csv'}: line {i + 1}"), votes[i]) for i in kept
    ]
    sources = [f"{folder.name}/{table['image'].iloc[i]}" for i in kept]
    empty = f"{folder}: no usable images (dropped: {{dropped}})"
    dropped = Counter(r for r in reasons if r)
    decode = functools.partial(with_votes, decode=functools.partial(decode_file, size=size))
    return Rows(name or folder.name, decode, items, labels[kept], sources, dropped, empty)


def decode_pixels(item: tuple[str, str], size: int) -> Decoded | Bad:
    """Decode for fer2013.csv's rows: item (48 x 48 grey values as one string, where)."""
    pixels, where = item
    values = pixels.split()
    if len(values) != 48 * 48 or not all(v.isdigit() and int(v) <= 255 for v in values):
        return Bad("bad_pixels", where, "pixels must be 2304 integers 0-255", fatal=True)
    gray = np.asarray(values, np.int64).astype(np.uint8).reshape(48, 48)
    if size != 48:
        gray = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA if size < 48 else cv2.INTER_CUBIC)
    return {"image": np.repeat(gray[..., None], 3, axis=2)}


def read_csv_layout(root: Path, size: int, rows: dict[str, str]) -> dict[str, Rows]:
    """FER2013's `fer2013.csv` (emotion, pixels, Usage) with FERPlus's `fer2013new.csv` votes, planned; `rows`
    is each split's rule (`split_labels`)."""
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
    usage = new["Usage"].str.strip().to_numpy()
    decode = functools.partial(with_votes, decode=functools.partial(decode_pixels, size=size))
    emotion_votes = votes[:, : len(CLASSES)]
    parts = {}
    for split, name in USAGE.items():
        lines = np.flatnonzero(usage == name)
        labels, reasons = split_labels(votes[lines], rows[split])
        kept = lines[labels >= 0]
        parts[split] = Rows(
            split,
            decode,
            [((fer["pixels"].iloc[i], f"{pixels_path}: line {i + 2}"), emotion_votes[i]) for i in kept],
            labels[labels >= 0],
            [new["Image name"].iloc[i].strip() or f"{CSV_FILES[0]}:{i + 2}" for i in kept],
            Counter(r for r in reasons if r),
            f"{root}: no usable images in split {split!r} (dropped: {{dropped}})",
        )
    return parts


def read_ferplus(root: str | Path, size: int, valid_as: str, train_rows: str = "majority") -> Plan:
    """All three splits from either layout, planned; with `valid_as="train"` the validation images join the
    training split (and there is no val split). `train_rows` is the rule (`split_labels`) of the images that
    end up in the training split; val and test keep the majority rows."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"prepare.root: {root} is not a folder (point it at the FERPlus data)")
    rules = {"train": train_rows, "val": train_rows if valid_as == "train" else "majority", "test": "majority"}
    if (root / FOLDERS["train"]).is_dir() or not all((root / f).is_file() for f in CSV_FILES):
        parts = {name: read_split(root / folder, size, name, rules[name]) for name, folder in FOLDERS.items()}
    else:
        parts = read_csv_layout(root, size, rules)
    if valid_as == "train":
        return Plan(list(CLASSES), {"train": [parts["train"], parts["val"]], "test": [parts["test"]]})
    return Plan(list(CLASSES), {name: [rows] for name, rows in parts.items()})
