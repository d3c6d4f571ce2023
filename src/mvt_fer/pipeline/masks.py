"""Stage `masks`: the frozen generator over every prepared image -> data/masks/, mask-quality metrics, Fig. 2."""

from __future__ import annotations

import numpy as np
import torch

from .. import metrics as M
from .. import plots
from ..data.dataset import ImageDataset
from ..data.mask_store import write_masks
from ..engine import distributed, runtime
from ..engine.checkpoint import load_generator
from ..engine.inference import generate_masks
from ..errors import UserError
from ..io import write_json
from ..masking import MaskReading, oracle_patch_mask, random_patch_mask, up
from ..params import Params
from .paths import MASKS, METRICS, MGN_MODEL, PLOTS, open_store


def bound_masks(source: str, store, split: str, *, index: int, patch_size: int, ratio: float, seed: int) -> np.ndarray:
    """The masks beside G's, as Mp marking the erased patches (N, h, w): `random`, each image its own
    round(ratio * N) patches; `oracle`, the patches with the least face (needs the synthetic face truth)."""
    n, size = len(store.rows(split)), store.image_size
    if source == "random":
        rng = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, index]).generate_state(1)[0]))
        grid = size // patch_size
        return random_patch_mask(n, grid * grid, ratio, rng).numpy().reshape(n, grid, grid)
    face = store.face(split)
    if face is None:
        raise UserError(f"masks.source: oracle needs the face truth, which only dataset synthetic has ({split} here)")
    return oracle_patch_mask(face, patch_size, ratio)


def generator_masks(G, store, split: str, *, batch_size: int, dev: torch.device) -> np.ndarray:
    """G's Mp over one split (N, h, w): each process masks its share, process 0 joins them in order."""
    images = store.images(split)
    shard = ImageDataset(images[distributed.shard(len(images))])
    mine = generate_masks(G, shard, batch_size, dev=dev, desc=f"masks {split}")
    return np.concatenate(distributed.gather(mine))


def mask_metrics(mps: dict, keeps: dict, split: str, *, face: np.ndarray | None, patch_size: int, seed: int) -> dict:
    """masks.json's figures: G's raw output (`mean_mp` per split, `mask_hardness`), what the classifier loses
    (`mask_area` per split, after top-k where the masks are read hard), how much masks differ from image to
    image, and with face truth the share of the erased area off the face beside random and fixed masks."""
    result = {
        "mean_mp": {s: round(float(np.mean(mp, dtype=np.float64)), 6) for s, mp in mps.items()},
        "mask_area": {s: round(float(1 - keep.mean()), 6) for s, keep in keeps.items()},
    }
    erased = 1 - keeps[split]
    # Degenerate generators show here: uniform dimming has hardness (of the raw Mp) near 0, one mask for
    # all images has specificity 0 (docs/design.md, "Mask semantics").
    result |= {
        "quality_split": split,
        "mask_hardness": round(M.mask_hardness(mps[split]), 6),
        "mask_specificity": round(M.mask_specificity(erased, seed), 6),
    }
    if face is not None:
        # The random baseline: each image's own patch values in a random order (same area, random place).
        shuffled = np.random.default_rng(seed).permuted(erased.reshape(len(erased), -1), axis=1)
        result["off_face_share"] = round(M.off_face_share(up(erased, patch_size), face), 6)
        result["off_face_share_random"] = round(
            M.off_face_share(up(shuffled.reshape(erased.shape), patch_size), face), 6
        )
        # And the best an image-independent mask of the same area does: the mean mask on every image.
        fixed = np.broadcast_to(erased.mean(0), erased.shape)
        result["off_face_share_mean_mask"] = round(M.off_face_share(up(fixed, patch_size), face), 6)
    return result


def masks(p: Params) -> None:
    """Run G once over all splits (or, with masks.source random / oracle, make the bounds beside it);
    record the erased area per split and, where the dataset knows which pixels are face, the share of the
    erased mass off the face beside a random mask of equal area."""
    runtime.seed_everything(p.seed)
    dev = runtime.device()
    store = open_store(p)
    G, reading = load_generator(MGN_MODEL)
    G.to(dev)
    source = p.masks.source
    if source == "generator":
        mps = {
            split: generator_masks(G, store, split, batch_size=p.masks.batch_size, dev=dev) for split in store.splits
        }
    else:  # Mp is 1 exactly on the erased patches: read as `show`, the top round(m N) erased
        mps = {
            split: bound_masks(
                source, store, split, index=i, patch_size=G.patch_size, ratio=reading.mask_ratio, seed=p.seed
            )
            for i, split in enumerate(store.splits)
        }
        reading = MaskReading("show", reading.mask_ratio, hard=True)
    if not distributed.is_main():
        return
    write_masks(MASKS, mps, {"source": source, **reading.as_meta(), "patch_size": G.patch_size, "grid": list(G.grid)})

    keeps = {split: reading.keep_grid(mp) for split, mp in mps.items()}
    split = "test" if "test" in store.splits else store.splits[-1]
    view, ratio = reading.view, reading.mask_ratio
    result = {"source": source, "view": view, "mask_ratio": ratio} | mask_metrics(
        mps, keeps, split, face=store.face(split), patch_size=G.patch_size, seed=p.seed
    )
    write_json(METRICS / "masks.json", result)
    k = min(p.masks.samples, len(keeps[split]))
    plots.mask_grid(
        np.asarray(store.images(split)[:k]),
        keeps[split][:k],
        G.patch_size,
        PLOTS / "masks" / "samples.png",
        title=f"{split}: images and {'MGN' if source == 'generator' else source}-masked inputs ({view})",
    )
    plots.mean_mask(
        keeps[split],
        G.patch_size,
        PLOTS / "masks" / "mean_mask.png",
        title=f"{store.meta['dataset']} {split}: mean erased share (m={ratio})",
        images=store.images(split),
    )
    print(
        f"masks: erased area {result['mask_area']}, hardness {result['mask_hardness']:.3f}, "
        f"specificity {result['mask_specificity']:.3f}"
        + (
            f", off-face share {result['off_face_share']:.3f} (random {result['off_face_share_random']:.3f}, "
            f"mean mask {result['off_face_share_mean_mask']:.3f})"
            if "off_face_share" in result
            else ""
        ),
        flush=True,
    )
