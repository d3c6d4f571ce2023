"""The AffectNet adapter on fixtures in its documented layout, and the real annotation rows."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import SHARED_DATA, decode, needs_shared_data
from mvt_fer.data import affectnet
from mvt_fer.errors import UserError

HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"


def _affectnet_tree(root, rows_by_file):
    """rows: (path, box, expression); each image is grey 0 with the box painted 200."""
    images = root / "Manually_Annotated_Images"
    for name, rows in rows_by_file.items():
        lines = [HEADER]
        for path, (x, y, w, h), expression in rows:
            (images / path).parent.mkdir(parents=True, exist_ok=True)
            image = np.zeros((120, 160, 3), np.uint8)
            image[max(y, 0) : y + h, max(x, 0) : x + w] = 200
            cv2.imwrite(str(images / path), image)
            lines.append(f'{path},{x},{y},{w},{h},"1.0;2.0",{expression},0.1,-0.2')
        (root / name).write_text("\n".join(lines) + "\n")


FILES = {
    "training.csv": [
        ("1/a.jpg", (10, 20, 50, 50), 1),
        ("1/b.jpg", (0, 0, 60, 40), 7),
        ("2/c.jpg", (5, 5, 30, 30), 8),
        ("2/d.jpg", (100, 60, 80, 80), 6),
        ("3/e.jpg", (0, 0, 10, 10), 10),
    ],
    "validation.csv": [("9/f.jpg", (20, 20, 40, 40), 0), ("9/g.jpg", (20, 20, 40, 40), 9)],
}


def test_seven_classes_crop_the_box_and_count_drops(tmp_path):
    _affectnet_tree(tmp_path, FILES)
    splits, report = decode(affectnet.read_affectnet(tmp_path, 32, num_classes=7), tmp_path / "store")
    assert splits["train"].labels.tolist() == [1, 6] and splits["test"].labels.tolist() == [0]
    assert splits["train"].sources == ["1/a.jpg", "2/d.jpg"]
    assert report["train"] == {"kept": 2, "dropped": {"contempt": 1, "no_face": 1, "none": 1}}
    assert report["test"] == {"kept": 1, "dropped": {"uncertain": 1}}
    assert splits["train"].images[0].min() >= 190  # the crop is the painted box only
    assert splits["train"].images[1].min() >= 190  # a box past the border is clipped to the image


def test_eight_classes_keep_contempt(tmp_path):
    _affectnet_tree(tmp_path, FILES)
    splits, _ = decode(affectnet.read_affectnet(tmp_path, 32, num_classes=8), tmp_path / "store")
    assert splits["train"].labels.tolist() == [1, 7, 6]


def test_bad_rows_name_file_and_line(tmp_path):
    _affectnet_tree(tmp_path, FILES)
    text = (tmp_path / "training.csv").read_text().replace("2/d.jpg,100,", "2/d.jpg,1o0,")
    (tmp_path / "training.csv").write_text(text)
    with pytest.raises(UserError, match=r"training.csv: line 5: face box and expression must be integers"):
        decode(affectnet.read_affectnet(tmp_path, 32), tmp_path / "store")
    (tmp_path / "training.csv").write_text(text.replace("1o0", "100").replace(",8,", ",12,"))
    with pytest.raises(UserError, match=r"training.csv: line 4: expression 12 is not 0-10"):
        decode(affectnet.read_affectnet(tmp_path, 32), tmp_path / "store")
    (tmp_path / "training.csv").write_text(text.replace("1o0", "100"))
    (tmp_path / "Manually_Annotated_Images" / "2" / "d.jpg").write_bytes(b"")
    with pytest.raises(UserError, match=r"training.csv: line 5: image .*d.jpg cannot be decoded"):
        decode(affectnet.read_affectnet(tmp_path, 32), tmp_path / "store")
    (tmp_path / "training.csv").write_text(HEADER.replace("expression,", "") + "\n")
    with pytest.raises(UserError, match=r"training.csv: missing column\(s\) expression"):
        decode(affectnet.read_affectnet(tmp_path, 32), tmp_path / "store")


@needs_shared_data("affectnet-csv-sample")
def test_real_annotation_rows_parse():
    table = affectnet.read_csv(SHARED_DATA / "affectnet-csv-sample" / "test.csv")
    assert len(table) == 2 and table["path"].iloc[0].endswith(".jpg")
    assert table[["face_width", "face_height"]].gt(0).all().all()
    assert table["expression"].between(0, 10).all()
