"""The FERPlus adapter: majority vote as FERPlus's reference code, the folder layout, bad rows, real data."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import SHARED_DATA, decode, needs_shared_data
from mvt_fer.data import ferplus
from mvt_fer.data.rows import Plan
from mvt_fer.errors import UserError

#          neu hap sur sad ang dis fea con unk NF
VOTES = [
    [4, 0, 0, 1, 3, 2, 0, 0, 0, 0],  # single vote dropped: 4 of 9 -> no majority
    [6, 0, 1, 1, 0, 0, 0, 0, 2, 0],  # 6 of 8 -> neutral
    [0, 0, 0, 0, 0, 0, 0, 0, 10, 0],  # unknown wins
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face
    [0, 1, 1, 1, 1, 1, 1, 1, 1, 1],  # all single votes: nothing left
    [0, 0, 0, 0, 0, 0, 0, 5, 4, 0],  # contempt 5 of 9
    [0, 5, 5, 0, 0, 0, 0, 0, 0, 0],  # a tie is no majority
]


def test_majority_vote_follows_the_reference_rule():
    labels, reasons = ferplus.majority_vote(np.array(VOTES))
    assert labels.tolist() == [-1, 0, -1, -1, -1, 7, -1]
    assert reasons.tolist() == ["no_majority", "", "unknown", "not_a_face", "no_majority", "", "no_majority"]


#                neu hap sur sad ang dis fea con unk NF
SPREAD_VOTES = [
    [4, 0, 0, 1, 3, 2, 0, 0, 0, 0],  # 4 + 3 of 9 in two entries -> kept, neutral
    [0, 5, 5, 0, 0, 0, 0, 0, 0, 0],  # a tie, taken together -> kept, the first: happiness
    [3, 3, 0, 0, 0, 0, 0, 0, 2, 2],  # 6 of 10, then unknown ends the taking -> kept, neutral
    [3, 0, 0, 0, 0, 0, 0, 0, 3, 2],  # unknown ties the top: 3 of 8 is not over half -> dropped
    [0, 3, 0, 0, 0, 0, 0, 0, 4, 3],  # unknown comes first -> dropped
    [3, 2, 2, 2, 0, 0, 0, 0, 0, 0],  # four entries to pass half -> dropped
    [2, 2, 2, 2, 2, 0, 0, 0, 0, 0],  # five tied entries -> dropped
    [6, 0, 1, 1, 0, 0, 0, 0, 2, 0],  # a majority row keeps its label
    [0, 0, 0, 0, 0, 0, 0, 0, 10, 0],  # and an unknown one its reason
]


def test_distribution_vote_keeps_the_rows_the_reference_trains_on():
    labels, reasons = ferplus.distribution_vote(np.array(SPREAD_VOTES))
    assert labels.tolist() == [0, 1, 0, -1, -1, -1, -1, 0, -1]
    assert reasons.tolist() == ["", "", "", *["votes_spread"] * 4, "", "unknown"]


def test_train_rows_votes_applies_to_the_training_split_only(tmp_path):
    for folder in ("FER2013Train", "FER2013Valid", "FER2013Test"):
        _write_folder(tmp_path / folder, SPREAD_VOTES)
    for valid_as, val_kept in (("val", 1), ("train", 4)):
        splits, report = decode(ferplus.read_ferplus(tmp_path, 48, valid_as, "votes"), tmp_path / valid_as)
        assert report["train"]["kept"] == 4 and report["test"]["kept"] == 1 and report["val"]["kept"] == val_kept
        assert report["train"]["dropped"] == {"votes_spread": 4, "unknown": 1}
        assert report["test"]["dropped"] == {"no_majority": 7, "unknown": 1}


def _write_folder(folder, rows, images=True):
    folder.mkdir(parents=True)
    lines = []
    for i, votes in enumerate(rows):
        name = f"fer{i:07d}.png"
        lines.append(f'{name},"(0, 0, 48, 48)",' + ",".join(map(str, votes)))
        if images:
            cv2.imwrite(str(folder / name), np.full((48, 48), 10 * i, np.uint8))
    (folder / "label.csv").write_text("\n".join(lines) + "\n")


def test_read_split_counts_every_drop_and_makes_three_channels(tmp_path):
    folder = tmp_path / "FER2013Train"
    _write_folder(folder, VOTES + [[9, 0, 0, 0, 0, 0, 0, 0, 0, 0]] * 2)
    (folder / "fer0000008.png").unlink()  # a listed image that is missing
    (folder / "fer0000001.png").write_bytes(b"not a png")  # and one that is corrupt
    splits, report = decode(Plan([], {"train": [ferplus.read_split(folder, 32)]}), tmp_path / "store", skip=True)
    split, dropped = splits["train"], report["FER2013Train"]["dropped"]
    assert split.images.shape == (2, 32, 32, 3) and split.images.dtype == np.uint8
    assert split.labels.tolist() == [7, 0]
    assert split.sources == ["FER2013Train/fer0000005.png", "FER2013Train/fer0000007.png"]
    assert dict(dropped) == {"no_majority": 3, "unknown": 1, "not_a_face": 1, "image_missing": 1, "image_unreadable": 1}
    assert (split.images[1] == split.images[1][..., :1]).all()  # grey stays grey in all three channels
    # The eight emotion vote counts of each kept row, beside its majority label (what mvt.targets: votes reads).
    kept_votes = np.array([VOTES[5], [9, 0, 0, 0, 0, 0, 0, 0, 0, 0]])[:, :8]
    assert np.stack([split.extra[c] for c in ferplus.VOTES], 1).tolist() == kept_votes.tolist()


def test_missing_or_corrupt_image_stops_with_file_and_line_by_default(tmp_path):
    folder = tmp_path / "FER2013Train"
    _write_folder(folder, [VOTES[1]] * 3)
    (folder / "fer0000001.png").unlink()
    with pytest.raises(UserError, match=r"label.csv: line 2: image .*fer0000001.png is missing"):
        decode(Plan([], {"train": [ferplus.read_split(folder, 48)]}), tmp_path / "store")
    _write_folder(tmp_path / "other", [VOTES[1]] * 3)
    (tmp_path / "other" / "fer0000002.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(UserError, match=r"label.csv: line 3: image .*fer0000002.png cannot be decoded"):
        decode(Plan([], {"train": [ferplus.read_split(tmp_path / "other", 48)]}), tmp_path / "store")


def _write_csv_layout(root, rows, usages):
    """fer2013.csv with flat-grey images and fer2013new.csv with the given votes, row for row."""
    root.mkdir(parents=True, exist_ok=True)
    fer = ["emotion,pixels,Usage"] + [f"0,{' '.join([str(10 * i)] * 2304)},{u}" for i, u in enumerate(usages)]
    new = ["Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"]
    new += [
        f"{u},{'' if v[-1] == 10 else f'fer{i:07d}.png'}," + ",".join(map(str, v))
        for i, (u, v) in enumerate(zip(usages, rows))
    ]
    (root / "fer2013.csv").write_text("\n".join(fer) + "\n")
    (root / "fer2013new.csv").write_text("\n".join(new) + "\n")


def test_csv_layout_reads_fer2013_with_ferplus_votes(tmp_path):
    rows = [VOTES[1], VOTES[3], VOTES[5], VOTES[0], VOTES[1], VOTES[5]]
    usages = ["Training", "Training", "Training", "PublicTest", "PublicTest", "PrivateTest"]
    _write_csv_layout(tmp_path, rows, usages)
    splits, report = decode(ferplus.read_ferplus(tmp_path, 40, "val"), tmp_path / "store")
    assert splits["train"].labels.tolist() == [0, 7] and splits["test"].labels.tolist() == [7]
    assert splits["train"].sources == ["fer0000000.png", "fer0000002.png"]
    assert report["train"]["dropped"] == {"not_a_face": 1} and report["val"]["dropped"] == {"no_majority": 1}
    assert splits["test"].images.shape == (1, 40, 40, 3)
    assert splits["train"].images[1].min() == splits["train"].images[1].max() == 20  # grey 20, resized
    votes = np.stack([splits["train"].extra[c] for c in ferplus.VOTES], 1)
    assert votes.tolist() == [VOTES[1][:8], VOTES[5][:8]]


def test_csv_layout_rejects_mismatched_files(tmp_path):
    _write_csv_layout(tmp_path, [VOTES[1], VOTES[1]], ["Training", "PrivateTest"])
    lines = (tmp_path / "fer2013new.csv").read_text().splitlines()
    (tmp_path / "fer2013new.csv").write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(UserError, match=r"fer2013.csv has 2 rows but .*fer2013new.csv 1"):
        ferplus.read_ferplus(tmp_path, 48, "val")
    _write_csv_layout(tmp_path, [VOTES[1], VOTES[1]], ["PrivateTest", "Training"])  # train is decoded first
    text = (tmp_path / "fer2013.csv").read_text().replace(" 10 10", " 10 x", 1)
    (tmp_path / "fer2013.csv").write_text(text)
    with pytest.raises(UserError, match=r"fer2013.csv: line 3: pixels must be 2304 integers"):
        decode(ferplus.read_ferplus(tmp_path, 48, "val"), tmp_path / "store", skip=True)  # skip or not
    _write_csv_layout(tmp_path, [VOTES[1], VOTES[1]], ["PrivateTest", "Training"])
    (tmp_path / "fer2013.csv").write_text((tmp_path / "fer2013.csv").read_text().replace(" 10 10", " 10 300", 1))
    with pytest.raises(UserError, match=r"fer2013.csv: line 3: pixels must be 2304 integers 0-255"):
        decode(ferplus.read_ferplus(tmp_path, 48, "val"), tmp_path / "store")


def test_bad_vote_row_names_file_and_line(tmp_path):
    folder = tmp_path / "FER2013Valid"
    _write_folder(folder, [VOTES[1], VOTES[1]], images=False)
    text = (folder / "label.csv").read_text().splitlines()
    text[1] = text[1].replace(",6,", ",x,")
    (folder / "label.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(UserError, match=r"label.csv: line 2: vote counts"):
        ferplus.read_split(folder, 48)


def test_missing_root_and_missing_label_file(tmp_path):
    with pytest.raises(UserError, match="prepare.root"):
        ferplus.read_ferplus(tmp_path / "nowhere", 48, "val")
    with pytest.raises(UserError, match="FER2013Train/label.csv: missing"):
        ferplus.read_ferplus(tmp_path, 48, "val")


def test_valid_joins_train_on_request(tmp_path):
    for folder, n in (("FER2013Train", 3), ("FER2013Valid", 2), ("FER2013Test", 1)):
        _write_folder(tmp_path / folder, [VOTES[1]] * n)
    splits, report = decode(ferplus.read_ferplus(tmp_path, 48, "train"), tmp_path / "store")
    assert sorted(splits) == ["test", "train"] and len(splits["train"].labels) == 5
    assert report["val"]["kept"] == 2


@pytest.mark.slow
@needs_shared_data("ferplus")
def test_real_ferplus_keeps_the_documented_counts(tmp_path):
    splits, report = decode(ferplus.read_ferplus(SHARED_DATA / "ferplus", 48, "val"), tmp_path / "store", workers=2)
    assert report["train"]["kept"] == 25045 and report["val"]["kept"] == 3191
    # The rows FERPlus's reference code trains on with its vote targets (checked against its rule row by row).
    plan = ferplus.read_ferplus(SHARED_DATA / "ferplus", 48, "val", "votes")
    assert len(plan.splits["train"][0].labels) == 27947 and len(plan.splits["val"][0].labels) == 3191
    assert splits["test"].images.shape[1:] == (48, 48, 3)
    assert set(np.unique(splits["train"].labels)) == set(range(8))
