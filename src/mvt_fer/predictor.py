"""The trained pipeline as one model for users: images in, class probabilities out, masks made inside.

`MaskedPredictor` chains G (when the classifier was trained on masked images) and the classifier, so
PyTorch and ONNX Runtime take the same input: float images (B, 3, H, W) in [0, 1] at the training size.
`export_onnx` writes it to ONNX and checks it against PyTorch; `load_backend` gives predict either one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .engine.checkpoint import load_classifier, load_generator
from .errors import UserError
from .io import atomic_path
from .masking import MaskReading, as_grid
from .models import MaskedClassifier, MaskGenerator

PARITY_TOLERANCE = 1e-4
UNKNOWN_DATASET = "unknown"  # checkpoints written before the training dataset was recorded


def dataset_warning(dataset: str, model: str | Path) -> str | None:
    """One line for a model whose predictions on real photos mean nothing (trained on the synthetic set)."""
    if dataset == "synthetic":
        return (
            f"warning: {model} was trained on the built-in synthetic faces, so its labels for real photos "
            'are guesses; train on real faces first (docs/usage.md, "A first real model (FERPlus)")'
        )
    return None


class MaskedPredictor(nn.Module):
    """G's keep-mask (as the masks stage makes it) applied to the image, then the classifier's softmax."""

    def __init__(
        self, classifier: MaskedClassifier, generator: MaskGenerator | None = None, reading: MaskReading | None = None
    ):
        super().__init__()
        self.classifier = classifier
        self.generator = generator
        self.reading = reading

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(images, self.keep_grid(images)).softmax(-1)

    def keep_grid(self, images: torch.Tensor) -> torch.Tensor | None:
        """The keep-mask grid (B, h, w) G gives these images, or None without G."""
        if self.generator is None:
            return None
        # Mp in float32. (The masks stage stores it as float16; rounding here as well would make ties in
        # the top-k common, and ONNX Runtime breaks ties differently from PyTorch.)
        mp = self.generator(images)
        return as_grid(self.reading.keep(mp), self.generator.grid)


def load_predictor(mvt: str | Path, mgn: str | Path | None) -> tuple[MaskedPredictor, dict]:
    """The trained classifier (and G, where it was trained on masked images), in eval mode on the CPU."""
    classifier, meta = load_classifier(mvt)
    generator, reading = None, None
    if meta.get("use_masks", False):
        if mgn is None or not Path(mgn).is_file():
            raise UserError(f"{mvt} was trained on MGN-masked images: give the generator too (--mgn models/mgn.pt)")
        generator, reading = load_generator(mgn)
        if generator.image_size != meta["image_size"]:
            raise UserError(f"{mgn}: G takes {generator.image_size} px images, the classifier {meta['image_size']} px")
    return MaskedPredictor(classifier, generator, reading).eval(), meta


def export_onnx(
    predictor: MaskedPredictor,
    classes: list[str],
    image_size: int,
    path: str | Path,
    check_images: np.ndarray,
    dataset: str | None = None,
) -> float:
    """Write `predictor` as ONNX (dynamic batch, input `images`, output `probabilities`, the class names
    and training dataset in its metadata) and return the largest absolute difference from PyTorch on `check_images`
    (N, H, W, 3) uint8; above PARITY_TOLERANCE it is an error and nothing is left at `path`."""
    import onnx
    import onnxruntime as ort

    example = torch.rand(2, 3, image_size, image_size)
    batch = torch.export.Dim("batch", min=1)
    with atomic_path(path) as tmp:
        torch.onnx.export(
            predictor,
            (example,),
            str(tmp),
            input_names=["images"],
            output_names=["probabilities"],
            dynamic_shapes=({0: batch},),
            dynamo=True,
            verbose=False,
        )
        proto = onnx.load(str(tmp))
        onnx.helper.set_model_props(
            proto,
            {
                "classes": json.dumps(list(classes)),
                "image_size": str(image_size),
                "dataset": dataset or UNKNOWN_DATASET,
            },
        )
        onnx.save(proto, str(tmp))
        x = torch.from_numpy(np.array(check_images)).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            reference = predictor(x).numpy()
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = session.run(None, {"images": x.numpy()})[0]
        diff = float(np.abs(got - reference).max())
        if not diff <= PARITY_TOLERANCE:
            raise UserError(f"export: ONNX and PyTorch differ by {diff:.2e} (> {PARITY_TOLERANCE:g}); not written")
    return diff


class OnnxBackend:
    """An exported predictor under ONNX Runtime, called like the PyTorch one on float arrays."""

    def __init__(self, path: str | Path):
        import onnxruntime as ort

        if not Path(path).is_file():
            raise UserError(f"{path}: no ONNX model (write one with `mvt-fer export`)")
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime's own error types
            raise UserError(f"{path}: not a readable ONNX model ({type(err).__name__})") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if "classes" not in props:
            raise UserError(f"{path}: not an ONNX model written by `mvt-fer export` (no class names in it)")
        self.classes, self.image_size = json.loads(props["classes"]), int(props["image_size"])
        self.dataset = props.get("dataset", UNKNOWN_DATASET)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"images": images.astype(np.float32)})[0]


class TorchBackend:
    """The PyTorch predictor on `device` (a torch.device), called on float arrays (B, 3, H, W) in [0, 1]."""

    def __init__(self, mvt: str | Path, mgn: str | Path | None, device: torch.device | None = None):
        self.device = device or torch.device("cpu")
        predictor, meta = load_predictor(mvt, mgn)
        self.predictor = predictor.to(self.device)
        self.classes, self.image_size = meta["classes"], meta["image_size"]
        self.dataset = meta.get("dataset") or UNKNOWN_DATASET

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.predictor(torch.from_numpy(images).to(self.device)).float().cpu().numpy()

    @torch.inference_mode()
    def keep_grid(self, images: np.ndarray) -> np.ndarray | None:
        """G's keep grids (B, h, w) for these images, or None without G (for overlays)."""
        keep = self.predictor.keep_grid(torch.from_numpy(images).to(self.device))
        return None if keep is None else keep.float().cpu().numpy()


def torch_device(name: str | None) -> torch.device:
    """`--device`: "cpu", "cuda", "cuda:1", ...; None: the GPU where there is one, else the CPU."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device: {name!r} is not a device (cpu, cuda or cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device: {name!r} is not a device (cpu, cuda or cuda:N)")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UserError(f"--device: {name}: no such GPU here ({torch.cuda.device_count()} visible)")
    return device
