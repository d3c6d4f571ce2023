"""Saving and loading trained models together with what is needed to rebuild them.

A checkpoint is a dict: the state dict, the `model` params it was built from, and what its builder needs
besides. Loading rebuilds the network by name and reports a foreign, truncated or mismatched file as one
line that names it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..errors import UserError
from ..io import atomic_path
from ..masking import MaskReading
from ..models import MaskedClassifier, MaskGenerator, create_classifier, create_generator
from ..params import ModelParams, Params


def _save(path: str | Path, model: nn.Module, model_params: ModelParams, **extra) -> None:
    payload = {"state_dict": model.state_dict(), "model": model_params.model_dump(), **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _load(path: str | Path, build: Callable[[ModelParams, dict], nn.Module], *, what: str, stage: str):
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no trained {what} (run the {stage} stage)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        # The saved weights replace any pretrained ones: rebuild without fetching them again.
        # Checkpoints from before model.stem existed were all built with the patch projection.
        params = ModelParams.model_validate({"stem": "patch"} | payload["model"]).model_copy(
            update={"pretrained": "none"}
        )
        model = build(params, payload)
        model.load_state_dict(payload["state_dict"])
    except UserError:
        raise
    except Exception as err:  # a foreign or truncated file: say which file, not how unpickling failed
        raise UserError(f"{path}: not a {what} checkpoint written by {stage} ({type(err).__name__})") from None
    return model.eval(), payload


def save_classifier(
    path: str | Path,
    model: MaskedClassifier,
    *,
    model_params: ModelParams,
    classes: list[str],
    image_size: int,
    use_masks: bool = False,
    dataset: str | None = None,
) -> None:
    """The classifier, its classes and image size, whether it was trained on MGN-masked images (so
    predict and export know to put G in front of it), and the dataset it was trained on."""
    _save(path, model, model_params, classes=list(classes), image_size=image_size, use_masks=use_masks, dataset=dataset)


def load_classifier(path: str | Path) -> tuple[MaskedClassifier, dict]:
    """The model (eval mode, on CPU) and the checkpoint's metadata (classes, image_size, model params)."""
    return _load(
        path,
        lambda mp, c: create_classifier(mp, len(c["classes"]), c["image_size"]),
        what="classifier",
        stage="train_mvt",
    )


def save_generator(
    path: str | Path, G: MaskGenerator, *, model_params: ModelParams, depth: int, reading: MaskReading
) -> None:
    """G alone (the masks stage needs nothing else), with how its output is to be read."""
    _save(
        path,
        G,
        model_params,
        depth=depth,
        temperature=G.temperature,
        image_size=G.image_size,
        meta=reading.as_meta(),
    )


def load_generator(path: str | Path) -> tuple[MaskGenerator, MaskReading]:
    """G (eval mode, on CPU) and how its output is to be read."""
    G, payload = _load(
        path,
        lambda mp, c: create_generator(mp, c["depth"], c["image_size"], c["temperature"]),
        what="mask generator",
        stage="train_mgn",
    )
    return G, MaskReading.from_meta(payload["meta"])


def fingerprint(p: Params, *inputs: Path) -> str:
    """sha256 of the params and of the name, size and modification time of every file under `inputs`:
    what an epoch checkpoint must match to be continued. (Stat, not contents: reading a 40 GB store at
    every start costs more than a resume saves; a store rewritten since the kill gets a new mtime, and its
    checkpoint is then not continued.)"""
    h = hashlib.sha256(p.model_dump_json().encode())
    for root in inputs:
        for f in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if f.is_file():
                st = f.stat()
                h.update(f"{f.relative_to(root.parent)} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


class Resume:
    """The epoch checkpoint of a training loop, so that a killed stage continues where it stopped.

    Process 0 writes it atomically after every epoch (models, optimisers, schedules, label store,
    history); a rerun loads it only if its fingerprint (the params and input files of the run) matches, so
    a checkpoint of other params or data is never continued; the stage removes it once its outputs are
    written. The loops reseed every epoch from (seed, epoch), so a resumed run repeats the uninterrupted
    one exactly.
    """

    def __init__(self, path: str | Path, fingerprint: str):
        self.path, self.fingerprint = Path(path), fingerprint

    def load(self) -> dict | None:
        """The checkpoint to continue, read by process 0 and shared with the others (on several machines
        only process 0's has it), or None."""
        from . import distributed

        return distributed.from_main(self._read() if distributed.is_main() else None)

    def _read(self) -> dict | None:
        self._remove_partial_saves()
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # a save is atomic, so this is a foreign file, not a cut-short one
            print(f"resume: ignoring {self.path} ({type(err).__name__})", flush=True)
            return None
        if state.get("fingerprint") != self.fingerprint:
            print(f"resume: ignoring {self.path}: written for other params or inputs", flush=True)
            return None
        print(f"resume: continuing from {self.path} after epoch {state['epoch']}", flush=True)
        return state

    def _remove_partial_saves(self) -> None:
        """A kill during a save leaves its temporary folder (atomic_path's) behind: remove those."""
        import shutil

        for tmp in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            shutil.rmtree(tmp, ignore_errors=True)

    def save(self, state: dict) -> None:
        from . import distributed

        if distributed.is_main():
            with atomic_path(self.path) as tmp:
                torch.save(state | {"fingerprint": self.fingerprint}, tmp)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
        self._remove_partial_saves()
