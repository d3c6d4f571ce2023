"""`mvt-fer predict`: photos in, one row per face out (box, expression, class probabilities).

Faces are found with OpenCV's bundled Haar cascade (offline), or each image is taken as one face
(`detect=False`, for already-cropped faces); each face is cropped, resized to the model's size with the
same filters as `prepare`, and classified in batches by either backend (PyTorch or ONNX Runtime).
"""

from __future__ import annotations

import functools
import glob
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
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


UNDECODABLE = "cannot be decoded as an image"


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise UserError(f"{path}: {UNDECODABLE}")
    return np.ascontiguousarray(image[..., ::-1])


def _warn(message: str) -> None:
    tqdm.write(message, file=sys.stderr)  # above the progress bar, not through it


def predict_files(
    paths: list[Path],
    backend,
    *,
    detect: bool = True,
    batch_size: int = 64,
    margin: float = 0.1,
    min_face: int = 24,
    overlay_dir: Path | None = None,
    warn: Callable[[str], None] = _warn,
) -> pd.DataFrame:
    """One row per face: file, face, x, y, w, h, expression, p_<class>..., model_dataset, error (files
    without a face get one row with face -1 and no box or expression, so every input is accounted for;
    a file that cannot be decoded gets such a row too, with `error` saying so, and one warning).

    Photos are read one at a time and their face crops classified `batch_size` at a time, so memory
    holds one batch of crops and one photo, never all of them; a photo's overlay is drawn as soon as its
    last face is classified."""
    size, classes = backend.image_size, backend.classes
    margin = margin if detect else 0.0
    overlays = _Overlays(Path(overlay_dir), backend, classes, margin) if overlay_dir is not None else None
    rows, probs = [], []  # probs: one float32 array per face, in the order of the face rows
    crops, waiting = [], deque()  # crops not classified yet; (photo, its face rows, its first face) to draw

    def classify(n: int) -> None:
        batch = np.stack(crops[:n]).transpose(0, 3, 1, 2).astype(np.float32) / 255
        del crops[:n]
        probs.extend(backend(batch))
        if overlays is not None:
            overlays.add_masks(batch)

    def draw_finished() -> None:  # the photos whose faces (if any) are all classified
        while waiting and waiting[0][2] + len(waiting[0][1]) <= len(probs):
            path, faces, first = waiting.popleft()
            overlays.draw(path, faces, probs[first : first + len(faces)])

    for path in tqdm(paths, desc="predict", disable=None if len(paths) > 20 else True, leave=False):
        try:
            image = read_rgb(path)
        except UserError:
            warn(f"warning: {path}: {UNDECODABLE}; skipped")
            rows.append({"file": str(path), "face": -1, "error": UNDECODABLE})
            continue
        boxes = detect_faces(image, min_face) if detect else [(0, 0, image.shape[1], image.shape[0])]
        faces = [{"file": str(path), "face": i, "x": x, "y": y, "w": w, "h": h} for i, (x, y, w, h) in enumerate(boxes)]
        rows += faces or [{"file": str(path), "face": -1}]
        if overlays is not None:
            waiting.append((path, faces, len(probs) + len(crops)))
        crops += [crop_face(image, box, size, margin) for box in boxes]
        while len(crops) >= batch_size:
            classify(batch_size)
        draw_finished()
    if crops:
        classify(len(crops))
    draw_finished()
    return _table(rows, np.array(probs, np.float32).reshape(-1, len(classes)), classes, backend.dataset)


def _table(rows: list[dict], probs: np.ndarray, classes: list[str], dataset: str) -> pd.DataFrame:
    # Integer boxes, empty (not NaN, which would turn every box into floats) for a file without a face.
    table = pd.DataFrame(rows, columns=["file", "face", "x", "y", "w", "h"]).astype({k: "Int64" for k in "xywh"})
    found = table["face"] >= 0
    table.loc[found, "expression"] = np.array(classes)[probs.argmax(1)] if len(probs) else []
    for k, name in enumerate(classes):
        table.loc[found, f"p_{name}"] = probs[:, k].round(6)
    table["model_dataset"] = dataset
    table["error"] = [r.get("error", "") for r in rows]
    return table


class _Overlays:
    """One PNG per decoded input: each face's box and expression, and (PyTorch backend with G) the
    patches G erases, darkened. Fed each batch of crops (for G's masks), then each photo whose faces are
    all classified."""

    def __init__(self, out: Path, backend, classes: list[str], margin: float):
        self.out, self.keep_grid, self.classes, self.margin = out, getattr(backend, "keep_grid", None), classes, margin
        self.keeps: list[np.ndarray] = []  # G's keep grid of each classified face not drawn yet
        self.used: set[str] = set()
        out.mkdir(parents=True, exist_ok=True)

    def add_masks(self, batch: np.ndarray) -> None:
        if self.keep_grid is not None and (keeps := self.keep_grid(batch)) is not None:
            self.keeps.extend(keeps)

    def draw(self, path: Path, faces: list[dict], probs: list[np.ndarray]) -> None:
        canvas = read_rgb(path).copy()
        keeps, self.keeps = self.keeps[: len(faces)], self.keeps[len(faces) :]
        for i, (r, p) in enumerate(zip(faces, probs)):
            x, y, w, h = int(r["x"]), int(r["y"]), int(r["w"]), int(r["h"])
            if keeps:
                dx, dy = int(round(self.margin * w)), int(round(self.margin * h))
                x0, y0 = max(x - dx, 0), max(y - dy, 0)
                x1, y1 = min(x + w + dx, canvas.shape[1]), min(y + h + dy, canvas.shape[0])
                erased = cv2.resize(1 - keeps[i], (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
                region = canvas[y0:y1, x0:x1].astype(np.float32)
                canvas[y0:y1, x0:x1] = (region * (1 - 0.6 * erased[..., None])).astype(np.uint8)
            thickness = max(1, round(max(canvas.shape[:2]) / 300))
            cv2.rectangle(canvas, (x, y), (x + w, y + h), (0, 255, 0), thickness)
            cv2.putText(
                canvas,
                f"{self.classes[p.argmax()]} {p.max().round(6):.2f}",  # as the table rounds it
                (x, max(y - 4, 10)),
                cv2.FONT_HERSHEY_SIMPLEX,
                max(0.35, w / 250),
                (0, 255, 0),
                thickness,
            )
        name, n = path.stem, 1
        while name in self.used:  # a/x.jpg and b/x.jpg, or x.jpg and x.png
            name, n = f"{path.stem}_{n}", n + 1
        self.used.add(name)
        with atomic_path(self.out / f"{name}.png") as tmp:
            cv2.imwrite(str(tmp), canvas[..., ::-1])


def write_predictions(table: pd.DataFrame, path: Path) -> None:
    """CSV, or JSON records when the name ends in .json."""
    if Path(path).suffix.lower() == ".json":
        with atomic_path(path) as tmp:
            tmp.write_text(table.to_json(orient="records", indent=2))
    else:
        write_csv(path, table)
