"""predict and export on a pipeline trained with the shrunken config: same predictions as evaluate, ONNX
parity, the Haar detector on a real face, overlays, and one-line errors."""

from __future__ import annotations

import shutil
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
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def crops(trained, tmp_path_factory):
    """The trained workspace's 42 test images as PNG files, one face each (for --no-detect)."""
    folder = tmp_path_factory.mktemp("crops")
    for i, image in enumerate(PreparedStore(trained / "data" / "prepared").images("test")):
        cv2.imwrite(str(folder / f"{i:04d}.png"), image[..., ::-1])
    return folder


# Probabilities are written rounded to 6 decimals, and a forward pass's float noise depends on the batch
# size (~1e-7): the same face in another batch may differ by one in the last digit.
ROUNDED = {"check_exact": False, "rtol": 0, "atol": 1.5e-6}


def _rows(path):
    """The predictions CSV with each file's name alone (to compare runs on different folders)."""
    table = pd.read_csv(path)
    return table.assign(file=table["file"].map(lambda f: f.replace("\\", "/").rsplit("/", 1)[-1]))


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
    # A photo that cannot be decoded, given alone: a warning and a row saying so, exit status 1.
    result = _invoke(
        trained, monkeypatch, "predict", tmp_path / "broken.jpg", "--no-detect", "--out", tmp_path / "b.csv"
    )
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"warning: {tmp_path / 'broken.jpg'}: cannot be decoded as an image; skipped" in result.output.splitlines()
    assert pd.read_csv(tmp_path / "b.csv")[["face", "error"]].values.tolist() == [[-1, "cannot be decoded as an image"]]
    result = _invoke(trained, monkeypatch, "predict", tmp_path / "broken.jpg", "--device", "tpu")
    assert result.exit_code == 2 and "--device: 'tpu' is not a device" in result.output
    result = _invoke(
        trained,
        monkeypatch,
        "predict",
        str(tmp_path / "broken.jpg"),
        "--backend",
        "onnx",
        "--onnx",
        str(tmp_path / "none.onnx"),
        "--device",
        "cuda",
    )
    assert result.exit_code == 2 and "no ONNX model" in result.output
    assert "--device cuda is ignored: --backend onnx runs on the CPU" in result.output
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


def test_an_undecodable_photo_among_good_ones_is_a_warning_and_a_row(trained, crops, monkeypatch, tmp_path):
    result = _invoke(trained, monkeypatch, "predict", crops, "--no-detect", "--out", tmp_path / "good.csv")
    assert result.exit_code == 0, result.output
    photos = tmp_path / "photos"
    shutil.copytree(crops, photos)
    (photos / "0005_bad.jpg").write_bytes(b"")  # zero bytes, between 0005.png and 0006.png
    result = _invoke(
        trained, monkeypatch, "predict", photos, "--no-detect", "--batch-size", 4, "--out", tmp_path / "p.csv"
    )
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert [line for line in result.output.splitlines() if "0005_bad.jpg" in line] == [
        f"warning: {photos / '0005_bad.jpg'}: cannot be decoded as an image; skipped"
    ]
    assert "42 face(s) in 43 image(s)" in result.output and "1 image(s) could not be decoded" in result.output
    rows, good = _rows(tmp_path / "p.csv"), _rows(tmp_path / "good.csv")
    assert good["error"].isna().all()  # the column is there, empty
    bad = rows[rows["error"].notna()]
    assert bad.index.tolist() == [6] and bad["file"].item() == "0005_bad.jpg"
    assert bad["face"].item() == -1 and bad["error"].item() == "cannot be decoded as an image"
    assert bad.drop(columns=["file", "face", "model_dataset", "error"]).isna().all(axis=None)
    good_rows = rows.drop(index=6).reset_index(drop=True)  # (its boxes read as floats: the bad row's are empty)
    pd.testing.assert_frame_equal(good_rows, good, check_dtype=False, **ROUNDED)


def test_batches_of_one_give_the_same_rows_and_overlays(trained, crops, monkeypatch, tmp_path):
    for name, args in (("one", ["--batch-size", 1]), ("default", [])):
        out, overlays = tmp_path / f"{name}.csv", tmp_path / f"overlays_{name}"
        result = _invoke(
            trained, monkeypatch, "predict", crops, "--no-detect", "--out", out, "--overlay-dir", overlays, *args
        )
        assert result.exit_code == 0, result.output
    one, default = pd.read_csv(tmp_path / "one.csv"), pd.read_csv(tmp_path / "default.csv")
    assert len(one) == 42
    pd.testing.assert_frame_equal(one, default, **ROUNDED)
    for name in ("one", "default"):  # every overlay drawn, under its photo's name
        assert sorted(p.name for p in (tmp_path / f"overlays_{name}").iterdir()) == [f"{i:04d}.png" for i in range(42)]


def test_device_cpu(trained, crops, monkeypatch, tmp_path):
    result = _invoke(
        trained, monkeypatch, "predict", crops, "--no-detect", "--device", "cpu", "--out", tmp_path / "p.csv"
    )
    assert result.exit_code == 0, result.output
    evaluated = pd.read_csv(trained / "plots" / "eval" / "confusion.csv")
    assert pd.read_csv(tmp_path / "p.csv")["expression"].tolist() == evaluated["predicted"].tolist()
