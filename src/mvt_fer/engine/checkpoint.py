"""Saving and loading trained models together with what is needed to rebuild them."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import UserError
from ..io import atomic_path
from ..models import MaskedClassifier, create_classifier
from ..params import ModelParams


def save_classifier(path: str | Path, model: MaskedClassifier, model_params: ModelParams,
                    classes: list[str], image_size: int) -> None:
    payload = {
        "state_dict": model.state_dict(),
        "model": model_params.model_dump(),
        "classes": list(classes),
        "image_size": image_size,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_classifier(path: str | Path) -> tuple[MaskedClassifier, dict]:
    """The model (eval mode, on CPU) and the checkpoint's metadata (classes, image_size, model params)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no trained classifier (run the train_mvt stage: dvc repro train_mvt)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        model_params = ModelParams.model_validate(payload["model"])
    except Exception as err:  # a foreign or truncated file: say which file, not how pickle failed
        raise UserError(f"{path}: not a classifier checkpoint written by train_mvt ({type(err).__name__})") from None
    model = create_classifier(model_params, len(payload["classes"]), payload["image_size"])
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload
