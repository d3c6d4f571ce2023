"""The RAN occlusion/pose lists: every line format, CRLF and duplicates, matching, and the real lists."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED_DATA, needs_shared_data
from mvt_fer.data import subsets
from mvt_fer.errors import UserError

RAN = SHARED_DATA / "ran-lists"


@pytest.mark.parametrize(
    "line, expected",
    [
        ("1_fer0034656.png 8 0", ("fer0034656", 1)),  # FERPlus occlusion: label_name
        ("0/fer0032226.jpg", ("fer0032226", 0)),  # FERPlus pose: .jpg names for .png files
        ("test_0003_aligned 3 4", ("test_0003", 3)),  # RAF-DB occlusion: stem label type
        ("4/test_0006_aligned.jpg", ("test_0006", 4)),  # RAF-DB pose
        (
            "val/5/bc9ad400db82eca1882b11c9603348fb3e92f5b0d67391ac22a1bc79/",
            ("bc9ad400db82eca1882b11c9603348fb3e92f5b0d67391ac22a1bc79", 5),
        ),
        (
            "7/3c028208c27c0be5fbe6a52738bebcbfb6c64f3220f523a84b267203/8.jpg",
            ("3c028208c27c0be5fbe6a52738bebcbfb6c64f3220f523a84b267203", 7),
        ),
        ("   ", None),
    ],
)
def test_parse_line_reads_every_list_format(line, expected):
    assert subsets.parse_line(line) == expected


def test_keys_match_store_sources():
    assert (
        subsets.image_key("Image/aligned/test_0004_aligned.jpg") == subsets.image_key("0/test_0004.jpg") == "test_0004"
    )
    assert subsets.image_key("FER2013Test/fer0032226.png") == subsets.image_key("0/fer0032226.jpg")


def _lists(root, dataset, contents):
    for subset, name in subsets.LISTS[dataset].items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(contents.get(subset, "").encode())


def test_flags_count_unmatched_duplicates_and_disagreements(tmp_path):
    _lists(
        tmp_path,
        "rafdb",
        {
            "occluded": "test_0001_aligned 3 4\r\ntest_0002_aligned 0 1\r\n"
            "test_0001_aligned 3 4\r\ntest_0009_aligned 1 2",
            "pose_gt30": "3/test_0001_aligned.jpg\n5/test_0003_aligned.jpg\n",
            "pose_gt45": "9/test_0003_aligned.jpg\n",
        },
    )
    sources = [
        "Image/aligned/test_0001_aligned.jpg",
        "Image/aligned/test_0002_aligned.jpg",
        "Image/aligned/test_0003_aligned.jpg",
    ]
    flags, report = subsets.subset_flags("rafdb", tmp_path, sources, np.array([3, 6, 5]), 7)
    assert flags["occluded"].tolist() == [True, True, False]
    assert report["occluded"] == {
        "listed": 4,
        "duplicates": 1,
        "matched": 2,
        "not_in_test": 1,
        "label_disagrees": 1,
        "label_out_of_range": 0,
    }
    assert flags["pose_gt30"].tolist() == [True, False, True] and report["pose_gt30"]["label_disagrees"] == 0
    assert report["pose_gt45"]["label_out_of_range"] == 1


def test_malformed_line_names_file_and_line(tmp_path):
    _lists(tmp_path, "ferplus", {"occluded": "1_fer0000001.png 8 0\r\nfer0000002.png\r\n"})
    with pytest.raises(UserError, match=r"jianfei_occlusion_list.txt: line 2: expected"):
        subsets.subset_flags("ferplus", tmp_path, ["FER2013Test/fer0000001.png"], np.array([1]), 8)
    (tmp_path / subsets.LISTS["ferplus"]["occluded"]).write_text("1_fer0000001.png 8 0\r\n")
    (tmp_path / subsets.LISTS["ferplus"]["pose_gt30"]).unlink()
    with pytest.raises(UserError, match=r"pose_30_ferplus_list.txt: missing"):
        subsets.subset_flags("ferplus", tmp_path, [], np.array([]), 8)


@needs_shared_data("ran-lists")
@pytest.mark.parametrize(
    "dataset, sizes, duplicates",
    [
        ("ferplus", (605, 1170, 633), (0, 0, 0)),
        ("rafdb", (734, 1247, 558), (1, 0, 0)),
        ("affectnet", (683, 1944, 983), (0, 5, 2)),
    ],
)
def test_real_lists_parse_whole(dataset, sizes, duplicates):
    for (subset, name), size, dup in zip(subsets.LISTS[dataset].items(), sizes, duplicates):
        entries, found = subsets.read_list(RAN / name)
        assert (len(entries), found) == (size, dup), subset
        assert all(0 <= label < 8 for label in entries.values())


@needs_shared_data("ran-lists", "ferplus/FER2013Test")
def test_real_ferplus_test_slice_matches_the_lists_without_disagreement():
    from mvt_fer.data import ferplus

    test = ferplus.read_split(SHARED_DATA / "ferplus" / "FER2013Test", 48)  # the rows the images would be
    flags, report = subsets.subset_flags("ferplus", RAN, test.sources, test.labels, 8)
    assert {k: r["matched"] for k, r in report.items()} == {"occluded": 65, "pose_gt30": 142, "pose_gt45": 84}
    assert all(r["label_disagrees"] == 0 and r["matched"] + r["not_in_test"] == r["listed"] for r in report.values())
