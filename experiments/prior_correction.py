"""Post-hoc prior correction of a recipe-probe run (Menon et al., 2021, "Long-tail learning via logit
adjustment", post-hoc form): predict argmax_y log p(y|x) - tau * log pi_y, with pi the training class
frequencies. tau 0 is the plain prediction; tau 1 divides out the training prior, the Bayes rule for a
class-balanced error. No training: it reads the probabilities the probe saved beside its JSON.

    python experiments/recipe_probe.py ... --out results/ferplus-cpu/levers/NAME.json   # writes NAME.npz too
    python experiments/prior_correction.py results/ferplus-cpu/levers/NAME.npz

Prints, per reading (last weights, average, each with and without flip TTA) and tau, valid accuracy and
mean-class accuracy, then one JSON line. A tau is chosen on valid; the test slice is read once, after.
The rule is evaluate's (`evaluate.prior_tau`, mvt_fer.engine.inference.prior_adjusted).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from mvt_fer.engine.inference import prior_adjusted
from mvt_fer.metrics import accuracy, confusion_matrix, mean_class_accuracy

TAUS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main(npz: Path = typer.Argument(..., help="a probe's .npz (written beside its --out JSON)")) -> None:
    data = np.load(npz)
    labels, counts = data["val_labels"], data["train_counts"]
    table = {}
    for reading in (k for k in data.files if k not in ("val_labels", "train_counts")):
        for tau in TAUS:
            matrix = confusion_matrix(labels, prior_adjusted(data[reading], counts, tau).argmax(-1), len(counts))
            acc, mean_class = accuracy(matrix), mean_class_accuracy(matrix)
            table[f"{reading} tau={tau}"] = {"val_acc": round(acc, 4), "val_mean_class_acc": round(mean_class, 4)}
            print(f"{reading:8s} tau={tau:<5} val_acc={acc:.4f} mean_class={mean_class:.4f}")
    print(json.dumps(table))


if __name__ == "__main__":
    typer.run(main)
