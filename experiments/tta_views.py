"""Multi-view test-time augmentation on a recipe-probe run's saved weights: valid accuracy and mean-class
accuracy of the image alone, of flip TTA (`evaluate.tta`: the image and its mirror), and of flip x shifts
(both, each also moved by +-s whole pixels left, right, up and down, black border in, as the training
augmentation's shifts), for the last weights and their average. The mean of the views' probabilities is
the prediction, read with `evaluate.prior_tau`'s correction at each --prior-tau. No training; the baseline
classifier (no masks), as the probe trains it.

    python experiments/recipe_probe.py ... --out results/ferplus-cpu/levers/NAME.json   # writes NAME.pt too
    python experiments/tta_views.py results/ferplus-cpu/levers/NAME.pt --workspace DIR [--shift 1 --shift 2] \
        [--prior-tau 0 --prior-tau 0.25]

DIR is a workspace whose data/prepared holds the run's valid split (e.g. a clone where
`dvc exp run $(mvt-fer preset ferplus-cpu --root ...) prepare` ran); the valid labels and the training class
counts come from the run's .npz beside NAME.pt. Prints one line per
reading and view set, then one JSON line. Choices made on valid; the test slice is read once, after.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import torch
import typer

from mvt_fer.data.dataset import ImageDataset
from mvt_fer.data.store import PreparedStore
from mvt_fer.engine.inference import inference_batches, prior_adjusted, tta_views
from mvt_fer.metrics import accuracy, confusion_matrix, mean_class_accuracy
from mvt_fer.models import create_classifier
from mvt_fer.params import parse_params


@torch.inference_mode()
def view_probs(model: torch.nn.Module, dataset: ImageDataset, shifts: list[int], batch_size: int) -> np.ndarray:
    """(V, N, K): each view's class probabilities, in dataset order."""
    model.eval()
    out = []
    for images, _, _ in inference_batches(dataset, batch_size, torch.device("cpu")):
        views = tta_views(images, None, flip=True, shifts=shifts, patch_size=model.patch_size)
        out.append(torch.stack([model(x, None).softmax(-1) for x, _ in views]))
    return torch.cat(out, 1).numpy()


def main(
    weights: Path = typer.Argument(..., help="a probe's .pt (written beside its --out JSON)"),
    workspace: Path = typer.Option(..., help="a workspace whose data/prepared holds the run's dataset"),
    shift: list[int] = typer.Option([1, 2], help="shift sizes in pixels, each a set of views"),
    prior_tau: list[float] = typer.Option([0.0], help="evaluate.prior_tau values to read each view set with"),
) -> None:
    saved = torch.load(weights, weights_only=False)
    p = parse_params(saved["params"], source=str(weights))
    # The run's own valid labels and training class counts, from the .npz the probe wrote beside the weights:
    # the prior is the run's even where the workspace was prepared with other training rows.
    run = np.load(weights.with_suffix(".npz"))
    labels, counts = run["val_labels"], run["train_counts"]
    store = PreparedStore(workspace / "data" / "prepared")
    if not np.array_equal(store.rows("val")["label"].to_numpy(), labels):
        raise typer.BadParameter(f"{workspace}: its valid split is not the run's", param_hint="--workspace")
    val = ImageDataset(store.images("val"))
    model = create_classifier(p.model, store.num_classes, store.image_size)
    table = {}
    for reading, state in saved["weights"].items():
        model.load_state_dict(state)
        probs = view_probs(model, val, shift, p.evaluate.batch_size)
        # Cumulative view sets over the order `tta_views` makes them: each shift size adds 8 views.
        sets = {"alone": 1, "flip": 2} | {f"flip x shifts {shift[:i]}": 2 + 8 * i for i in range(1, len(shift) + 1)}
        for (name, n), tau in itertools.product(sets.items(), prior_tau):
            decided = prior_adjusted(probs[:n].mean(0), counts, tau).argmax(-1)
            matrix = confusion_matrix(labels, decided, store.num_classes)
            acc, mean_class = accuracy(matrix), mean_class_accuracy(matrix)
            key = f"{reading} {name}" + (f" tau={tau}" if tau else "")
            table[key] = {"val_acc": round(acc, 4), "val_mean_class_acc": round(mean_class, 4)}
            print(f"{key:36s} ({n:2d} views) val_acc={acc:.4f} mean_class={mean_class:.4f}", flush=True)
    print(json.dumps(table))


if __name__ == "__main__":
    typer.run(main)
