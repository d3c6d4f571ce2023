"""`mvt-fer predict`: photos in, one row per face out (box, expression, class probabilities).

Faces are found with OpenCV's bundled Haar cascade (offline), or each image is taken as one face
(`detect=False`, for already-cropped faces); each face is cropped, resized to the model's size with the
same filters as `prepare`, and classified in batches by either backend (PyTorch or ONNX Runtime).
"""

from __future__ import annotations

import functools
import glob
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .data.images import IMAGE_SUFFIXES
from .errors import UserError
from .io import atomic_path, write_csv

CASCADE = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"


def gather_inputs(inputs: list[str]) -> list[Path]:
    """Image files from files, folders (searched recursively) and glob patterns, sorted, without repeats."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += [f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
        elif path.is_file():
            found.append(path)
        else:
            matches = [Path(m) for m in glob.glob(item, recursive=True)]
            if not matches:
                raise UserError(f"{item}: no such file, folder or matching pattern")
            found += [m for m in matches if m.is_file() and m.suffix.lower() in IMAGE_SUFFIXES]
    if not found:
        raise UserError(f"no images in {', '.join(inputs)} (looked for {', '.join(IMAGE_SUFFIXES)})")
    return sorted(dict.fromkeys(found))


@functools.lru_cache(maxsize=1)
def _detector() -> cv2.CascadeClassifier:
    return cv2.CascadeClassifier(str(CASCADE))  # parsed once, not per image


def detect_faces(image: np.ndarray, min_face: int) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) in an RGB image, largest first."""
    detector = _detector()
    gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
    boxes = detector.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_face, min_face))
    return sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: -b[2] * b[3])


def crop_face(image: np.ndarray, box: tuple[int, int, int, int], size: int, margin: float) -> np.ndarray:
    """The box grown by `margin` of its side on every edge (clipped), resized to size x size."""
    x, y, w, h = box
    dx, dy = int(round(margin * w)), int(round(margin * h))
    x0, y0 = max(x - dx, 0), max(y - dy, 0)
    x1, y1 = min(x + w + dx, image.shape[1]), min(y + h + dy, image.shape[0])
    face = image[y0:y1, x0:x1]
    if face.shape[:2] != (size, size):
        shrink = face.shape[0] > size or face.shape[1] > size
        face = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return face


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise UserError(f"{path}: cannot be decoded as an image")
    return np.ascontiguousarray(image[..., ::-1])


def predict_files(
    paths: list[Path],
    backend,
    detect: bool = True,
    batch_size: int = 64,
    margin: float = 0.1,
    min_face: int = 24,
    overlay_dir: Path | None = None,
) -> pd.DataFrame:
    """One row per face: file, face, x, y, w, h, expression, p_<class>..., model_dataset (files without a
    face get one row with face -1 and no box or expression, so every input is accounted for)."""
    size, classes = backend.image_size, backend.classes
    faces, rows = [], []
    for path in tqdm(paths, desc="faces", disable=None if len(paths) > 20 else True, leave=False):
        image = read_rgb(path)
        boxes = detect_faces(image, min_face) if detect else [(0, 0, image.shape[1], image.shape[0])]
        if not boxes:
            rows.append({"file": str(path), "face": -1})
        for i, box in enumerate(boxes):
            faces.append(crop_face(image, box, size, margin if detect else 0.0))
            rows.append({"file": str(path), "face": i, "x": box[0], "y": box[1], "w": box[2], "h": box[3]})
    probs = np.zeros((len(faces), len(classes)), np.float32)
    for j in tqdm(
        range(0, len(faces), batch_size), desc="predict", disable=None if len(faces) > batch_size else True, leave=False
    ):
        batch = np.stack(faces[j : j + batch_size]).transpose(0, 3, 1, 2).astype(np.float32) / 255
        probs[j : j + len(batch)] = backend(batch)
    # Integer boxes, empty (not NaN, which would turn every box into floats) for a file without a face.
    table = pd.DataFrame(rows, columns=["file", "face", "x", "y", "w", "h"]).astype({k: "Int64" for k in "xywh"})
    found = table["face"] >= 0
    table.loc[found, "expression"] = np.array(classes)[probs.argmax(1)] if len(faces) else []
    for k, name in enumerate(classes):
        table.loc[found, f"p_{name}"] = probs[:, k].round(6)
    table["model_dataset"] = backend.dataset
    if overlay_dir is not None:
        draw_overlays(table, faces, backend, Path(overlay_dir), margin if detect else 0.0)
    return table


def draw_overlays(table: pd.DataFrame, faces: list[np.ndarray], backend, out: Path, margin: float) -> None:
    """One PNG per input: each face's box and expression, and (PyTorch backend with G) the patches G
    erases, darkened."""
    keeps = None
    predictor = getattr(backend, "predictor", None)
    if predictor is not None and predictor.generator is not None and faces:
        with torch.inference_mode():
            x = torch.from_numpy(np.stack(faces).transpose(0, 3, 1, 2).astype(np.float32) / 255)
            keeps = predictor.keep_grid(x).numpy()
    out.mkdir(parents=True, exist_ok=True)
    face_index, used = 0, set()
    for file, group in table.groupby("file", sort=False):
        canvas = read_rgb(Path(file)).copy()
        for r in group[group["face"] >= 0].to_dict("records"):
            x, y, w, h = int(r["x"]), int(r["y"]), int(r["w"]), int(r["h"])
            if keeps is not None:
                dx, dy = int(round(margin * w)), int(round(margin * h))
                x0, y0 = max(x - dx, 0), max(y - dy, 0)
                x1, y1 = min(x + w + dx, canvas.shape[1]), min(y + h + dy, canvas.shape[0])
                erased = cv2.resize(1 - keeps[face_index], (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
                region = canvas[y0:y1, x0:x1].astype(np.float32)
                canvas[y0:y1, x0:x1] = (region * (1 - 0.6 * erased[..., None])).astype(np.uint8)
            thickness = max(1, round(max(canvas.shape[:2]) / 300))
            cv2.rectangle(canvas, (x, y), (x + w, y + h), (0, 255, 0), thickness)
            cv2.putText(
                canvas,
                f"{r['expression']} {r['p_' + r['expression']]:.2f}",
                (x, max(y - 4, 10)),
                cv2.FONT_HERSHEY_SIMPLEX,
                max(0.35, w / 250),
                (0, 255, 0),
                thickness,
            )
            face_index += 1
        name, n = Path(file).stem, 1
        while name in used:  # a/x.jpg and b/x.jpg, or x.jpg and x.png
            name, n = f"{Path(file).stem}_{n}", n + 1
        used.add(name)
        with atomic_path(out / f"{name}.png") as tmp:
            cv2.imwrite(str(tmp), canvas[..., ::-1])


def write_predictions(table: pd.DataFrame, path: Path) -> None:
    """CSV, or JSON records when the name ends in .json."""
    if Path(path).suffix.lower() == ".json":
        with atomic_path(path) as tmp:
            tmp.write_text(table.to_json(orient="records", indent=2))
    else:
        write_csv(path, table)
