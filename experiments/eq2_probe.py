"""Eq. 2's view of a decoy (docs/results.md "Mask bounds", the decoy set: "Measured on seed 0's D"): train G and D as
train_mgn does on the synthetic-decoys data of one seed, then score D on validation views showing only
(a) the oracle's patches of decoy images (mostly the decoy), (b) the oracle's patches of clear images
(background next to the face), (c) G's own soft view, and on the full images; report D's Eq. 3 variance
and accuracy for each.

    python experiments/eq2_probe.py                  # seed 0, as measured; needs the .venv (make setup)
    python experiments/eq2_probe.py --seed 1
    python experiments/eq2_probe.py --workspace DIR  # a workspace already prepared with the decoy set

Without --workspace it works in a temporary clone of the repository's HEAD (tempfile.TemporaryDirectory,
removed at the end), with the clone's own src/ on PYTHONPATH: `dvc exp run $(mvt-fer preset
synthetic-decoys) -S seed=S prepare` there, then the probe in the clone.

Writes results/bounds-decoys/seed<S>-eq2-views.json (or --out) and prints it. Time: not timed (docs/results.md gives
no duration; it runs prepare and one MGN training on the decoy set).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "bounds-decoys"
NOTE = (
    "seed {seed}, synthetic-decoys: G and D trained as train_mgn does (same losses as seed{seed}-G), then D's Eq. 3 "
    "variance and accuracy on val views showing only the oracle's patches (occluded faces: mostly the decoy; "
    "clear faces: background next to the face), on G's soft view, and on full images. experiments/eq2_probe.py"
)


def clone_env(clone: Path) -> dict[str, str]:
    """The environment for commands in `clone`: its own code first, the repository's .venv on PATH."""
    venv = ROOT / ".venv" / "bin"
    path = f"{venv}{os.pathsep}{os.environ.get('PATH', '')}" if venv.is_dir() else os.environ.get("PATH", "")
    return os.environ | {"PYTHONPATH": str(clone / "src"), "PATH": path, "NO_ALBUMENTATIONS_UPDATE": "1"}


def prepare_clone(clone: Path, seed: int) -> None:
    """Clone the repository and run its prepare stage on the decoy set with `seed`, as a DVC experiment."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = clone_env(clone)
    preset = subprocess.run(
        ["mvt-fer", "preset", "synthetic-decoys"], cwd=clone, env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    run = ["dvc", "exp", "run", "-q", "-n", f"eq2-probe-s{seed}", *preset, "-S", f"seed={seed}", "prepare"]
    subprocess.run(run, cwd=clone, env=env, check=True)


def probe(seed: int) -> dict:
    """The probe in the current directory, a workspace whose data/prepared is the decoy set's."""
    import numpy as np
    import torch

    from mvt_fer.data.dataset import ImageDataset
    from mvt_fer.engine import runtime
    from mvt_fer.engine.mgn import fit_mgn
    from mvt_fer.losses import prediction_variance
    from mvt_fer.masking import MaskSpec, discriminator_view, oracle_patch_mask
    from mvt_fer.models import create_classifier, create_generator
    from mvt_fer.params import load_params
    from mvt_fer.pipeline.paths import open_store

    p = load_params("params.yaml")
    if p.seed != seed:
        raise SystemExit(f"eq2_probe: the workspace's params.yaml has seed {p.seed}, not {seed}")
    runtime.seed_everything(p.seed)
    dev = runtime.device()
    store = open_store(p)
    train_set = ImageDataset(store.images("train"))
    labels = torch.tensor(store.rows("train")["label"].to_numpy(), dtype=torch.long)
    G = create_generator(p.model, p.mgn.depth, store.image_size, p.mgn.temperature)
    D = create_classifier(p.model, store.num_classes, store.image_size)
    fit_mgn(G, D, train_set, labels=labels, p=p.mgn, spec=MaskSpec.of(p), seed=p.seed, dev=dev)
    G.eval(), D.eval()
    rows = store.rows("val")
    x = torch.from_numpy(np.asarray(store.images("val"))).permute(0, 3, 1, 2).float() / 255
    y = torch.as_tensor(rows["label"].to_numpy())
    occ = torch.as_tensor(rows["occluded"].to_numpy().astype(bool))
    oracle = torch.from_numpy(oracle_patch_mask(store.face("val"), G.patch_size, p.mask_ratio)).reshape(len(y), -1)
    out = {}
    with torch.no_grad():
        mp = G(x)
        for name, mask in (("oracle_patches", oracle), ("G_soft", mp)):
            logits = D(discriminator_view(x, mask, "show", G.patch_size, G.grid))
            var, hit = prediction_variance(logits), (logits.argmax(-1) == y).float()
            for part, sel in (("occluded", occ), ("clear", ~occ)):
                out[f"{name}/{part}"] = {
                    "variance": round(var[sel].mean().item(), 4),
                    "accuracy": round(hit[sel].mean().item(), 3),
                }
        full = D(x)
        out["full"] = {
            "variance": round(prediction_variance(full).mean().item(), 4),
            "accuracy": round((full.argmax(-1) == y).float().mean().item(), 3),
        }
    return out | {"note": NOTE.format(seed=seed)}


def main(
    seed: int = typer.Option(0, min=0, help="the seed of the decoy set's data and of G and D"),
    workspace: Path | None = typer.Option(
        None, help="probe this workspace (data/prepared already the decoy set's) instead of a temporary clone"
    ),
    out: Path | None = typer.Option(
        None, help="where to write the JSON (default: results/bounds-decoys/seed<S>-eq2-views.json)"
    ),
) -> None:
    out = (out or RESULTS / f"seed{seed}-eq2-views.json").resolve()
    if workspace is not None:
        os.chdir(workspace)
        text = json.dumps(probe(seed), indent=1)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(text)
        return
    with tempfile.TemporaryDirectory(prefix="eq2-probe.") as tmp:
        clone = Path(tmp) / "repo"
        prepare_clone(clone, seed)
        # The probe itself in a fresh process, so that it imports the clone's code (PYTHONPATH), as prepare did.
        command = [sys.executable, str(Path(__file__).resolve()), "--seed", str(seed), "--workspace", str(clone)]
        subprocess.run([*command, "--out", str(out)], cwd=clone, env=clone_env(clone), check=True)


if __name__ == "__main__":
    typer.run(main)
