"""predict and export on a pipeline trained with the shrunken config: same predictions as evaluate, ONNX
parity, the Haar detector on a real face, overlays, and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from conftest import ROOT, SHARED_DATA, TINY, merge, needs_shared_data
from mvt_fer.cli import app
from mvt_fer.data.store import PreparedStore
from mvt_fer.params import read_yaml

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A workspace after prepare -> train_mgn -> masks -> train_mvt (masks on) -> evaluate."""
    ws = tmp_path_factory.mktemp("ws")
    params = merge(read_yaml(ROOT / "params.yaml"), TINY)
    params = merge(params, {"mvt": {"use_masks": True}, "evaluate": {"bootstrap": 0}})
    (ws / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("prepare", "train_mgn", "masks", "train_mvt", "evaluate"):
        proc = subprocess.run(
            [sys.executable, str(ROOT / "stages" / f"{stage}.py")], cwd=ws, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
    return ws


def _invoke(ws, monkeypatch, *args):
    monkeypatch.chdir(ws)
    result = CliRunner().invoke(app, list(args))
    return result


def test_no_detect_on_the_test_crops_matches_evaluate(trained, monkeypatch, tmp_path):
    store = PreparedStore(trained / "data" / "prepared")
    crops = tmp_path / "crops"
    crops.mkdir()
    for i, image in enumerate(store.images("test")):
        cv2.imwrite(str(crops / f"{i:04d}.png"), image[..., ::-1])
    result = _invoke(trained, monkeypatch, "predict", str(crops), "--no-detect", "--out", str(tmp_path / "p.csv"))
    assert result.exit_code == 0, result.output
    # The model knows it was trained on the synthetic faces, and says so once.
    assert result.output.count("trained on the built-in synthetic faces") == 1
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert set(predicted["model_dataset"]) == {"synthetic"}
    evaluated = pd.read_csv(trained / "plots" / "eval" / "confusion.csv")
    assert len(predicted) == len(evaluated) == 42
    assert predicted["expression"].tolist() == evaluated["predicted"].tolist()
    assert np.allclose(predicted.filter(like="p_").sum(axis=1), 1.0, atol=1e-5)

    # The exported model (G + classifier) agrees with PyTorch and predicts the same through ONNX Runtime.
    result = _invoke(trained, monkeypatch, "export", "--out", str(tmp_path / "m.onnx"))
    assert result.exit_code == 0, result.output
    diff = float(result.output.split("= ")[1].split()[0])
    assert "G + classifier" in result.output and diff <= 1e-4 and "synthetic faces" in result.output
    result = _invoke(
        trained,
        monkeypatch,
        "predict",
        str(crops),
        "--no-detect",
        "--backend",
        "onnx",
        "--onnx",
        str(tmp_path / "m.onnx"),
        "--out",
        str(tmp_path / "o.json"),
    )
    assert result.exit_code == 0, result.output
    onnx_rows = pd.read_json(tmp_path / "o.json")
    assert onnx_rows["expression"].tolist() == evaluated["predicted"].tolist()
    assert set(onnx_rows["model_dataset"]) == {"synthetic"} and "synthetic faces" in result.output


FACE = SHARED_DATA / "ferplus" / "FER2013Test" / "fer0032230.png"


@needs_shared_data("ferplus/FER2013Test/fer0032230.png")
def test_detector_finds_the_one_face_in_a_photo(trained, monkeypatch, tmp_path):
    # A real face (FERPlus crops are tight: the Haar cascade finds 13 of the first 60 test faces pasted
    # like this, as it expects some head around the face) in a larger picture.
    face = cv2.imread(str(FACE))
    photo = np.full((360, 480, 3), 200, np.uint8)
    photo[80:272, 140:332] = cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "photo.jpg"), photo)
    cv2.imwrite(str(tmp_path / "wall.jpg"), np.full((120, 160, 3), 90, np.uint8))  # no face at all
    result = _invoke(
        trained,
        monkeypatch,
        "predict",
        str(tmp_path / "photo.jpg"),
        str(tmp_path / "wall.jpg"),
        "--out",
        str(tmp_path / "p.csv"),
        "--overlay-dir",
        str(tmp_path / "overlays"),
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "p.csv").read_text().splitlines()
    assert text[2].split(",")[1:6] == ["-1", "", "", "", ""]  # the face-less image: an empty box ...
    assert all(v.isdigit() for v in text[1].split(",")[2:6])  # ... and the face's box in integers, not 157.0
    rows = pd.read_csv(tmp_path / "p.csv").iloc[:1]
    assert rows["face"].item() == 0 and isinstance(rows["expression"].item(), str)
    x, y, w, h = rows[["x", "y", "w", "h"]].iloc[0]
    assert 100 < x + w / 2 < 380 and 40 < y + h / 2 < 320  # on the pasted face
    assert (tmp_path / "overlays" / "photo.png").stat().st_size > 1000


def test_bad_inputs_are_one_line_errors(trained, monkeypatch, tmp_path):
    result = _invoke(trained, monkeypatch, "predict", str(tmp_path / "nothing*.jpg"))
    assert result.exit_code == 2 and "no such file, folder or matching pattern" in result.output
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    result = _invoke(trained, monkeypatch, "predict", str(tmp_path / "broken.jpg"), "--no-detect")
    assert result.exit_code == 2 and "broken.jpg: cannot be decoded" in result.output
    result = _invoke(
        trained,
        monkeypatch,
        "predict",
        str(tmp_path / "broken.jpg"),
        "--backend",
        "onnx",
        "--onnx",
        str(tmp_path / "none.onnx"),
    )
    assert result.exit_code == 2 and "no ONNX model" in result.output
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    result = _invoke(
        trained,
        monkeypatch,
        "predict",
        str(tmp_path / "broken.jpg"),
        "--backend",
        "onnx",
        "--onnx",
        str(tmp_path / "junk.onnx"),
    )
    assert result.exit_code == 2 and "junk.onnx: not a readable ONNX model" in result.output
