# Run in a workspace holding seed 0's prepared synthetic-decoys data (the params of `mvt-fer preset synthetic-decoys`).
"""Eq. 2's view of a decoy: train G and D as train_mgn does (seed 0, synthetic-decoys), then score D on views
showing only (a) the oracle's patches of decoy images (mostly the decoy), (b) the oracle's patches of
clear images (background next to the face), (c) G's own view; report D's Eq. 3 variance and accuracy."""

import json

import numpy as np
import torch

from mvt_fer.data.dataset import ImageDataset
from mvt_fer.engine import runtime
from mvt_fer.engine.mgn import fit_mgn
from mvt_fer.losses import prediction_variance
from mvt_fer.masking import discriminator_view, oracle_patch_mask
from mvt_fer.models import create_classifier, create_generator
from mvt_fer.params import load_params
from mvt_fer.pipeline.paths import open_store

p = load_params("params.yaml")
runtime.seed_everything(p.seed)
dev = runtime.device()
store = open_store(p)
train_set = ImageDataset(store.images("train"))
labels = torch.tensor(store.rows("train")["label"].to_numpy(), dtype=torch.long)
G = create_generator(p.model, p.mgn.depth, store.image_size, p.mgn.temperature)
D = create_classifier(p.model, store.num_classes, store.image_size)
fit_mgn(G, D, train_set, labels, p.mgn, p.mask_ratio, p.seed, dev)
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
print(json.dumps(out, indent=1))
