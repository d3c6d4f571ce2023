"""Stage `masks`: the frozen generator over every prepared image -> data/masks/, mask-quality metrics, Fig. 2."""

from __future__ import annotations

import numpy as np

from .. import metrics as M
from .. import plots
from ..data.dataset import ImageDataset
from ..data.masks import write_masks
from ..engine import runtime
from ..engine.checkpoint import load_generator
from ..engine.mgn import generate_masks
from ..io import write_json
from ..masking import keep_grid, up
from ..params import Params
from .paths import MASKS, METRICS, MGN_MODEL, PLOTS, open_store


def masks(p: Params) -> None:
    """Run G once over all splits; record the erased area per split and, where the dataset knows which
    pixels are face, the share of the erased mass off the face beside a random mask of equal area."""
    runtime.seed_everything(p.seed)
    dev = runtime.device()
    store = open_store(p)
    G, ckpt = load_generator(MGN_MODEL)
    G.to(dev)
    view, ratio, hard = ckpt["meta"]["view"], ckpt["meta"]["mask_ratio"], ckpt["meta"]["hard"]
    mps = {
        split: generate_masks(G, ImageDataset(store.images(split)), p.masks.batch_size, dev, desc=f"masks {split}")
        for split in store.splits
    }
    write_masks(MASKS, mps, {"view": view, "mask_ratio": ratio, "hard": hard, "patch_size": G.patch_size,
                             "grid": list(G.grid)})

    result = {"view": view, "mask_ratio": ratio, "mask_area": {}}
    keeps = {split: keep_grid(mp, view, ratio, hard) for split, mp in mps.items()}
    for split, keep in keeps.items():
        result["mask_area"][split] = round(float(1 - keep.mean()), 6)
    quality_split = "test" if "test" in store.splits else store.splits[-1]
    face = store.face(quality_split)
    if face is not None:
        keep = keeps[quality_split]
        # The random baseline: each image's own patch values in a random order (same area, random place).
        rng = np.random.default_rng(p.seed)
        shuffled = rng.permuted(keep.reshape(len(keep), -1), axis=1).reshape(keep.shape)
        result["off_face_share"] = round(M.off_face_share(1 - up(keep, G.patch_size), face), 6)
        result["off_face_share_random"] = round(M.off_face_share(1 - up(shuffled, G.patch_size), face), 6)
        result["quality_split"] = quality_split
    write_json(METRICS / "masks.json", result)
    split = quality_split
    k = min(p.masks.samples, len(keeps[split]))
    plots.mask_grid(np.asarray(store.images(split)[:k]), keeps[split][:k], G.patch_size,
                    PLOTS / "masks" / "samples.png", title=f"{split}: images and MGN-masked inputs ({view})")
    print(f"masks: erased area {result['mask_area']}"
          + (f", off-face share {result['off_face_share']:.3f} (random {result['off_face_share_random']:.3f})"
             if "off_face_share" in result else ""), flush=True)
