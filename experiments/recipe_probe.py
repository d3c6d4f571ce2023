"""Classifier recipe probe: train_mvt's loop without masks or relabeling on a prepared store, with params
overridden as `dvc exp run -S` would; prints val accuracy per epoch and one JSON line. How docs/method.md's
"Training recipe" table (synthetic demo data) and docs/results.md's "FERPlus on a CPU at 48 px" recipe table were
measured (choices are made on val, never on test).

    python experiments/recipe_probe.py -S model.stem=patch -S mvt.epochs=10      # the committed params.yaml
    python experiments/recipe_probe.py --preset ferplus-cpu --root ../shared/data/ferplus \\
        --out results/ferplus-cpu/levers/votes.json -S relabel.enabled=false -S mvt.ema_decay=0.999 \\
        -S mvt.targets=votes                                    # a FERPlus lever row (and its EMA and TTA rows)
    python experiments/recipe_probe.py --workspace DIR -S ...                    # a workspace already prepared

Without --workspace it works in a temporary clone of the repository's HEAD (tempfile.TemporaryDirectory,
removed at the end), with the clone's own src/ on PYTHONPATH: `dvc exp run [$(mvt-fer preset NAME --root
DIR)] [-S ...] prepare` there, then the probe in the clone. Needs the repository's .venv (make setup).

Prints the JSON line: the overrides, val accuracy per epoch (the weight average's with mvt.ema_decay), and
under "final" val accuracy and mean-class accuracy of the last weights with and without flip TTA ("raw",
"raw+tta") and, with mvt.ema_decay, of the average ("ema", "ema+tta"): the average never feeds back into
training, so one run gives four rows of a lever table. With --out it also writes the line there, and beside
it (same name, .npz) each reading's valid class probabilities with the valid labels and training class counts
for experiments/prior_correction.py, and (.pt) the params and both weights (git ignores both under results/:
they come from FERPlus's research-only data).
results/ferplus-cpu/levers/ holds the FERPlus lever rows, results/ferplus-cpu/recipe_probe.json the preset's
row before the batched augmentation. Time (docs/results.md): the synthetic rows 16-33 s per epoch on the
2-core machine (about 3-4 minutes for 10 epochs, plus prepare); a FERPlus row of 30 epochs 32-38 minutes
(plus 2 minutes of prepare).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import typer

ROOT = Path(__file__).resolve().parents[1]


def clone_env(clone: Path) -> dict[str, str]:
    """The environment for commands in `clone`: its own code first, the repository's .venv on PATH."""
    venv = ROOT / ".venv" / "bin"
    path = f"{venv}{os.pathsep}{os.environ.get('PATH', '')}" if venv.is_dir() else os.environ.get("PATH", "")
    return os.environ | {"PYTHONPATH": str(clone / "src"), "PATH": path, "NO_ALBUMENTATIONS_UPDATE": "1"}


def prepare_clone(clone: Path, preset: str | None, root: Path | None, subset_lists: Path | None, set_: list[str]):
    """Clone the repository and run its prepare stage with the preset's flags and the overrides, as a DVC
    experiment (`-S` writes them into the clone's params.yaml)."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = clone_env(clone)
    flags: list[str] = []
    if preset:
        command = ["mvt-fer", "preset", preset]
        command += ["--root", str(root)] if root else []
        command += ["--subset-lists", str(subset_lists)] if subset_lists else []
        flags = subprocess.run(command, cwd=clone, env=env, check=True, capture_output=True, text=True).stdout.split()
    overrides = [arg for s in set_ for arg in ("-S", s)]
    run = ["dvc", "exp", "run", "-q", "-n", "recipe-probe", *flags, *overrides, "prepare"]
    subprocess.run(run, cwd=clone, env=env, check=True)


def probe(set_: list[str], params: str, probs_out: Path | None = None) -> dict:
    """The probe in the current directory, a workspace whose data/prepared is built. With `probs_out`, also
    an .npz there: each reading's valid class probabilities, the valid labels and the training class counts,
    for post-hoc analysis (e.g. prior correction) without training again."""
    from ruamel.yaml import YAML

    from mvt_fer.data.dataset import ImageDataset
    from mvt_fer.engine import runtime
    from mvt_fer.engine.inference import predict
    from mvt_fer.engine.train import fit_classifier
    from mvt_fer.metrics import accuracy, confusion_matrix, mean_class_accuracy
    from mvt_fer.models import create_classifier
    from mvt_fer.params import parse_params, read_yaml
    from mvt_fer.pipeline.paths import open_store
    from mvt_fer.pipeline.train_mvt import training_targets
    from mvt_fer.presets import set_dotted
    from mvt_fer.relabel import LabelStore

    yaml = YAML(typ="safe", pure=True)
    overrides = {k: yaml.load(v) for k, v in (s.split("=", 1) for s in set_)}
    p = parse_params(set_dotted(read_yaml(params), overrides), source=f"{params} with {overrides}")
    runtime.seed_everything(p.seed)
    store = open_store(p)
    rows = store.rows("train")
    model = create_classifier(p.model, store.num_classes, store.image_size)
    train = ImageDataset(store.images("train"))
    val = (ImageDataset(store.images("val")), store.rows("val")["label"].to_numpy())
    dev, start = runtime.device(), time.perf_counter()
    # With mvt.ema_decay the loop ends by loading the average into `model`; the raw weights are taken after
    # the last epoch's record (on_epoch runs before that load). The average never feeds back into training,
    # so one run reads both, each with and without flip TTA: four rows of the lever table for one training.
    raw: dict[str, torch.Tensor] = {}

    def keep_raw(history: list[dict]) -> None:
        if len(history) == p.mvt.epochs:
            raw.update({k: v.clone() for k, v in model.state_dict().items()})

    history = fit_classifier(
        model,
        train,
        LabelStore(rows["label"].to_numpy(), rows["clean_label"].to_numpy()),
        p=p.mvt,
        seed=p.seed,
        dev=dev,
        monitor={"val": val},
        eval_batch_size=p.evaluate.batch_size,
        on_epoch=keep_raw,
        soft_targets=training_targets(p, store, rows),
    )
    seconds = round(time.perf_counter() - start)
    weights = {"raw": raw}
    if p.mvt.ema_decay is not None:
        weights["ema"] = {k: v.clone() for k, v in model.state_dict().items()}
    readings, probs = {}, {}
    for name, state in weights.items():
        model.load_state_dict(state)
        for tta in (False, True):
            reading = name + ("+tta" if tta else "")
            probs[reading] = predict(model, val[0], p.evaluate.batch_size, dev=dev, tta=tta)
            matrix = confusion_matrix(val[1], probs[reading].argmax(-1), store.num_classes)
            readings[reading] = {
                "val_acc": round(float(accuracy(matrix)), 4),
                "val_mean_class_acc": round(float(mean_class_accuracy(matrix)), 4),
            }
    if probs_out is not None:
        counts = np.bincount(rows["label"].to_numpy(), minlength=store.num_classes)
        np.savez_compressed(probs_out, val_labels=val[1], train_counts=counts, **probs)
        # The weights too (.pt), so that other test-time readings need no second training.
        torch.save({"params": p.model_dump(), "weights": weights}, probs_out.with_suffix(".pt"))
    return {
        "overrides": overrides,
        "val_acc": [round(r["val_acc"], 3) for r in history],  # per epoch: the average's, with mvt.ema_decay
        "final": readings,
        "seconds": seconds,
    }


def main(
    set_: list[str] = typer.Option([], "--set", "-S", help="key=value, as for dvc exp run -S"),
    preset: str | None = typer.Option(None, help="a preset (`mvt-fer preset`) the clone's prepare runs with"),
    root: Path | None = typer.Option(None, help="the dataset's raw folder, with --preset (prepare.root)"),
    subset_lists: Path | None = typer.Option(None, help="the RAN lists' folder, with --preset"),
    workspace: Path | None = typer.Option(
        None, help="probe this workspace (data/prepared already built) instead of a temporary clone"
    ),
    params: str = typer.Option("params.yaml", help="with --workspace: the params file the overrides apply to"),
    out: Path | None = typer.Option(None, help="also write the JSON line to this file"),
) -> None:
    bad = [s for s in set_ if "=" not in s]
    if bad:
        raise typer.BadParameter(f"expected key=value, got {bad[0]!r}", param_hint="-S")
    out = out.resolve() if out else None
    if workspace is not None:
        if preset or root or subset_lists:
            raise typer.BadParameter(
                "--preset, --root and --subset-lists are for the temporary clone", param_hint="--workspace"
            )
        os.chdir(workspace)
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(probe(set_, params, out.with_suffix(".npz") if out else None))
        print(line)
        if out:
            out.write_text(line + "\n")
        return
    if (root or subset_lists) and not preset:
        raise typer.BadParameter("--root and --subset-lists need --preset", param_hint="--preset")
    with tempfile.TemporaryDirectory(prefix="recipe-probe.") as tmp:
        clone = Path(tmp) / "repo"
        prepare_clone(
            clone, preset, root.resolve() if root else None, subset_lists.resolve() if subset_lists else None, set_
        )
        # The probe itself in a fresh process, so that it imports the clone's code (PYTHONPATH), as prepare did.
        command = [sys.executable, str(Path(__file__).resolve()), "--workspace", str(clone)]
        command += [arg for s in set_ for arg in ("-S", s)] + (["--out", str(out)] if out else [])
        subprocess.run(command, cwd=clone, env=clone_env(clone), check=True)


if __name__ == "__main__":
    typer.run(main)
