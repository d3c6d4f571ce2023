"""Stage `evaluate`: the trained classifier on the test split -> metrics/eval.json and the confusion matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics as M
from .. import plots
from ..data.classes import canonical
from ..data.dataset import ImageDataset
from ..data.store import SUBSETS, PreparedStore
from ..engine import runtime
from ..engine.checkpoint import load_classifier, load_generator
from ..engine.inference import generate_masks, predict, prior_adjusted
from ..errors import UserError
from ..io import write_csv, write_json
from ..params import Params
from .paths import METRICS, MGN_MODEL, MVT_MODEL, PLOTS, classifier_keep, open_store


def evaluate(p: Params) -> None:
    """Score the trained classifier on the test split (and with `evaluate.val` the val split): metrics/eval.json
    and the confusion matrix."""
    runtime.seed_everything(p.seed)
    dev = runtime.device()
    store = open_store(p)
    if p.evaluate.val and "val" not in store.splits:
        raise UserError(f"evaluate.val: true, but {store.root} has no val split (it has {', '.join(store.splits)})")
    model, meta = load_classifier(MVT_MODEL)
    if meta["classes"] != store.classes:
        raise UserError(
            f"{MVT_MODEL}: trained on classes {meta['classes']}, the test set has {store.classes}; rerun train_mvt"
        )
    model = model.to(dev)
    counts = np.bincount(store.rows("train")["label"], minlength=len(store.classes))
    y_true, y_pred = decide(p, model, store, split="test", train_counts=counts, dev=dev)
    rows = store.rows("test")
    result = M.summarize(
        y_true, y_pred, store.classes, {k: rows[k].to_numpy() for k in SUBSETS}, p.evaluate.bootstrap, p.seed
    )
    if p.evaluate.val:
        val_true, val_pred = decide(p, model, store, split="val", train_counts=counts, dev=dev)
        result["val"] = M.summarize(val_true, val_pred, store.classes, {})
    if p.evaluate.cross_test is not None:
        result["cross"] = cross_evaluate(
            p, model, meta["classes"], train_counts=counts, image_size=store.image_size, dev=dev
        )
    write_json(METRICS / "eval.json", result)
    classes = np.array(store.classes)
    write_csv(PLOTS / "eval" / "confusion.csv", pd.DataFrame({"actual": classes[y_true], "predicted": classes[y_pred]}))
    cm = M.confusion_matrix(y_true, y_pred, len(classes))
    plots.confusion(
        cm,
        store.classes,
        PLOTS / "eval" / "confusion.png",
        title=f"{p.dataset} test: accuracy {result['accuracy']:.3f}",
    )
    plots.subset_accuracy(result, PLOTS / "eval" / "subsets.png", title=f"{p.dataset} test: accuracy by subset")
    ci = result.get("ci95", {}).get("accuracy")
    print(
        f"evaluate: accuracy {result['accuracy']:.4f}"
        + (f" (95% CI {ci[0]:.4f}-{ci[1]:.4f})" if ci else "")
        + f", mean class accuracy {result['mean_class_accuracy']:.4f} on {result['n']} test images",
        flush=True,
    )
    if "val" in result:
        val = result["val"]
        print(
            f"evaluate: val accuracy {val['accuracy']:.4f}, mean class accuracy {val['mean_class_accuracy']:.4f} "
            f"on {val['n']} images",
            flush=True,
        )


def decide(p: Params, model, store: PreparedStore, *, split: str, train_counts: np.ndarray, dev) -> tuple:
    """(labels, decisions) of one split: the mean over the test-time views (`evaluate.tta`, `tta_shifts`) of
    the classifier's probabilities, read with the prior correction (`evaluate.prior_tau`)."""
    dataset = ImageDataset(store.images(split), classifier_keep(p, store, split))
    e = p.evaluate
    probs = predict(model, dataset, e.batch_size, dev=dev, desc=f"evaluate {split}", tta=e.tta, shifts=e.tta_shifts)
    return store.rows(split)["label"].to_numpy(), prior_adjusted(probs, train_counts, e.prior_tau).argmax(-1)


def class_mapping(model_classes: list[str], test_classes: list[str]) -> dict[int, int]:
    """{test class index: model class index} for the classes that mean the same expression."""
    model_index = {canonical(c) or c: i for i, c in enumerate(model_classes)}
    return {j: model_index[canonical(c) or c] for j, c in enumerate(test_classes) if (canonical(c) or c) in model_index}


def cross_evaluate(p: Params, model, classes: list[str], *, train_counts: np.ndarray, image_size: int, dev) -> dict:
    """The classifier on another dataset's prepared test split (`evaluate.cross_test`): classes matched by
    canonical name, images of unmatched classes left out (and counted), predictions restricted to the
    model classes the test set has (after the prior correction, with the model's own training counts). With
    masks on, G masks the foreign images as it did ours."""
    other = PreparedStore(p.evaluate.cross_test)
    if other.image_size != image_size:
        raise UserError(
            f"evaluate.cross_test: {other.root} holds {other.image_size} px images, the model takes "
            f"{image_size} px; prepare that dataset with prepare.image_size {image_size}"
        )
    mapping = class_mapping(classes, other.classes)
    if not mapping:
        raise UserError(f"evaluate.cross_test: no class of {other.classes} matches the model's {classes}")
    rows = other.rows("test")
    labels = rows["label"].to_numpy()
    scored = np.flatnonzero(np.isin(labels, list(mapping)))
    images = np.asarray(other.images("test"))[scored]
    keep = None
    if p.mvt.use_masks:
        G, reading = load_generator(MGN_MODEL)
        mp = generate_masks(G.to(dev), ImageDataset(images), p.evaluate.batch_size, dev=dev, desc="cross masks")
        keep = reading.keep_grid(mp)
    dataset = ImageDataset(images, patch_masks=keep)
    e = p.evaluate
    probs = predict(model, dataset, e.batch_size, dev=dev, desc="cross evaluate", tta=e.tta, shifts=e.tta_shifts)
    columns = np.array(sorted(set(mapping.values())))
    y_pred = columns[prior_adjusted(probs, train_counts, e.prior_tau)[:, columns].argmax(-1)]
    y_true = np.array([mapping[label] for label in labels[scored]], dtype=np.int64)
    result = M.summarize(
        y_true, y_pred, classes, {k: rows[k].to_numpy()[scored] for k in SUBSETS}, p.evaluate.bootstrap, p.seed
    )
    test_only = [c for j, c in enumerate(other.classes) if j not in mapping]
    result |= {
        "test_set": str(other.root),
        "dataset": other.meta["dataset"],
        "unmatched_test_classes": test_only,
        "left_out_images": int(len(labels) - len(scored)),
        "unmatched_model_classes": [c for i, c in enumerate(classes) if i not in set(mapping.values())],
    }
    print(
        f"evaluate: on {other.meta['dataset']} ({other.root}): accuracy {result['accuracy']:.4f} over "
        f"{len(scored)} images; no counterpart: test classes {test_only or 'none'} "
        f"({result['left_out_images']} images left out), model classes {result['unmatched_model_classes'] or 'none'}",
        flush=True,
    )
    return result
