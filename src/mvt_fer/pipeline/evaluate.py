"""Stage `evaluate`: the trained classifier on the test split -> metrics/eval.json and the confusion matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics as M
from .. import plots
from ..data.dataset import ImageDataset
from ..data.store import SUBSETS
from ..engine import runtime
from ..engine.checkpoint import load_classifier
from ..engine.evaluate import predict
from ..errors import UserError
from ..io import write_csv, write_json
from ..params import Params
from .paths import METRICS, MVT_MODEL, PLOTS, classifier_keep, open_store


def evaluate(p: Params) -> None:
    """Score the trained classifier on the test split: metrics/eval.json and the confusion matrix."""
    runtime.seed_everything(p.seed)
    dev = runtime.device()
    store = open_store(p)
    model, meta = load_classifier(MVT_MODEL)
    if meta["classes"] != store.classes:
        raise UserError(f"{MVT_MODEL}: trained on classes {meta['classes']}, the test set has {store.classes}; "
                        "rerun train_mvt")
    rows = store.rows("test")
    test_set = ImageDataset(store.images("test"), patch_masks=classifier_keep(p, store, "test"),
                            patch_size=model.patch_size)
    probs = predict(model.to(dev), test_set, p.evaluate.batch_size, dev, desc="evaluate")
    y_true, y_pred = rows["label"].to_numpy(), probs.argmax(-1)
    result = M.summarize(y_true, y_pred, store.classes, {k: rows[k].to_numpy() for k in SUBSETS})
    write_json(METRICS / "eval.json", result)
    classes = np.array(store.classes)
    write_csv(PLOTS / "eval" / "confusion.csv", pd.DataFrame({"actual": classes[y_true], "predicted": classes[y_pred]}))
    cm = M.confusion_matrix(y_true, y_pred, len(classes))
    plots.confusion(cm, store.classes, PLOTS / "eval" / "confusion.png",
                    title=f"{p.dataset} test: accuracy {result['accuracy']:.3f}")
    print(f"evaluate: accuracy {result['accuracy']:.4f}, mean class accuracy "
          f"{result['mean_class_accuracy']:.4f} on {result['n']} test images", flush=True)
