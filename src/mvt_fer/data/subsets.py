"""Occlusion and pose test subsets from the RAN paper's lists (Wang et al., 2020), for RAF-DB, FERPlus and
AffectNet.

The lists come in several hand-made formats; each line names one test image and its 0-based label (in
the dataset's own class order, which is also ours):

    FERplus_dir/jianfei_occlusion_list.txt     1_fer0034656.png 8 0        label_name, then two codes
    FERplus_dir/pose_30_ferplus_list.txt       0/fer0032226.jpg            label/name (.jpg for .png files)
    RAF_DB_dir/rafdb_occlusion_list.txt        test_0003_aligned 3 4       stem, label, occlusion type
    RAF_DB_dir/val_raf_db_list.txt             0/test_0004_aligned.jpg     label/name
    AffectNet_dir/occlusion_affectnet_list.txt val/0/<sha>/                split/label/id/
    AffectNet_dir/pose_45_affectnet_list.txt   7/<sha>/8.jpg               label/id/...

Images are matched by a key that ignores folders, extension, case and RAF-DB's `_aligned` suffix. A listed
image that is not in the test split, a duplicate line and a label that disagrees with ours are counted
and reported, never silently ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import UserError

LISTS = {
    "ferplus": {
        "occluded": "FERplus_dir/jianfei_occlusion_list.txt",
        "pose_gt30": "FERplus_dir/pose_30_ferplus_list.txt",
        "pose_gt45": "FERplus_dir/pose_45_ferplus_list.txt",
    },
    "rafdb": {
        "occluded": "RAF_DB_dir/rafdb_occlusion_list.txt",
        "pose_gt30": "RAF_DB_dir/val_raf_db_list.txt",
        "pose_gt45": "RAF_DB_dir/val_raf_db_list_45.txt",
    },
    "affectnet": {
        "occluded": "AffectNet_dir/occlusion_affectnet_list.txt",
        "pose_gt30": "AffectNet_dir/pose_30_affectnet_list.txt",
        "pose_gt45": "AffectNet_dir/pose_45_affectnet_list.txt",
    },
}
_LABEL_PREFIX = re.compile(r"^(\d+)_(.+)$")  # FERPlus occlusion: "1_fer0034656.png"


def image_key(name: str) -> str:
    """The matching key of an image name or path: 'Image/aligned/test_0004_aligned.jpg' -> 'test_0004'."""
    stem = Path(name.replace("\\", "/").rstrip("/")).name.lower()
    stem = re.sub(r"\.(jpe?g|png|bmp|webp|tiff?)$", "", stem)
    return stem.removesuffix("_aligned")


def parse_line(line: str) -> tuple[str, int] | None:
    """(key, 0-based label) of one list line, or None for a blank line; ValueError if it has neither."""
    fields = line.split()
    if not fields:
        return None
    token = fields[0]
    if "/" in token:
        parts = [p for p in token.split("/") if p]
        ident = max(parts, key=len)  # the image name or hash; the others are the label, split, '8.jpg'
        before = parts[: parts.index(ident)]
        labels = [p for p in before if p.isdigit()]
        if not labels:
            raise ValueError("no label folder before the image name")
        return image_key(ident), int(labels[-1])
    prefixed = _LABEL_PREFIX.match(token)
    if prefixed:
        return image_key(prefixed.group(2)), int(prefixed.group(1))
    if len(fields) >= 2 and fields[1].isdigit():
        return image_key(token), int(fields[1])
    raise ValueError("expected 'label/name', 'label_name' or 'name label'")


def read_list(path: Path) -> tuple[dict[str, int], int]:
    """{key: label} of one list file (CRLF or LF, with or without a final newline) and its duplicate count."""
    entries: dict[str, int] = {}
    duplicates = 0
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        try:
            parsed = parse_line(line)
        except ValueError as err:
            raise UserError(f"{path}: line {number}: {err} (got {line.strip()!r})") from None
        if parsed is None:
            continue
        key, label = parsed
        if key in entries:
            duplicates += 1
            continue
        entries[key] = label
    return entries, duplicates


def read_lists(dataset: str, lists_root: str | Path) -> dict[str, tuple[Path, dict[str, int], int]]:
    """{subset: (file, {key: label}, duplicates)} of `dataset`'s lists, each checked line by line."""
    root = Path(lists_root)
    if not root.is_dir():
        raise UserError(f"prepare.subset_lists: {root} is not a folder (point it at the RAN lists)")
    out = {}
    for subset, name in LISTS[dataset].items():
        path = root / name
        if not path.is_file():
            raise UserError(f"{path}: missing (prepare.subset_lists must hold {'/'.join(Path(name).parts[:1])}/)")
        out[subset] = (path, *read_list(path))
    return out


def subset_flags(
    dataset: str, lists_root: str | Path, sources: list[str], labels: np.ndarray, num_classes: int
) -> tuple[dict[str, np.ndarray], dict]:
    """The test split's subset flags from the RAN lists of `dataset` under `lists_root`, and a report per
    subset: listed, duplicates, matched, not_in_test, label_disagrees, label_out_of_range."""
    keys = {image_key(s): i for i, s in enumerate(sources)}
    flags, report = {}, {}
    for subset, (_, entries, duplicates) in read_lists(dataset, lists_root).items():
        flag = np.zeros(len(sources), bool)
        counts = {
            "listed": len(entries) + duplicates,
            "duplicates": duplicates,
            "matched": 0,
            "not_in_test": 0,
            "label_disagrees": 0,
            "label_out_of_range": 0,
        }
        for key, label in entries.items():
            row = keys.get(key)
            if row is None:
                counts["not_in_test"] += 1
                continue
            flag[row] = True
            counts["matched"] += 1
            if not 0 <= label < num_classes:
                counts["label_out_of_range"] += 1
            elif label != labels[row]:
                counts["label_disagrees"] += 1
        flags[subset] = flag
        report[subset] = counts
    return flags, report
