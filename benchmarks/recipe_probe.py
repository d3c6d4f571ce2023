"""Classifier recipe probe: train_mvt's loop without masks on the workspace's prepared store, with params
overridden as `dvc exp run -S` would; prints val accuracy per epoch and one JSON line. How README's
"Training recipe" table was measured (choices are made on val, never on test).

    python benchmarks/recipe_probe.py -S mvt.epochs=10 -S model.stem=patch
"""

from __future__ import annotations

import json
import time

import typer
from ruamel.yaml import YAML

from mvt_fer.data.dataset import ImageDataset
from mvt_fer.engine import runtime
from mvt_fer.engine.evaluate import predict
from mvt_fer.engine.train import fit_classifier
from mvt_fer.metrics import confusion_matrix, mean_class_accuracy
from mvt_fer.models import create_classifier
from mvt_fer.params import parse_params, read_yaml
from mvt_fer.pipeline.paths import open_store
from mvt_fer.presets import set_dotted
from mvt_fer.relabel import LabelStore


def main(
    set_: list[str] = typer.Option([], "--set", "-S", help="key=value, as for dvc exp run -S"),
    params: str = typer.Option("params.yaml", help="params file the overrides apply to"),
) -> None:
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
    history = fit_classifier(
        model,
        train,
        LabelStore(rows["label"].to_numpy(), rows["clean_label"].to_numpy()),
        p.mvt,
        p.seed,
        dev,
        {"val": val},
        p.evaluate.batch_size,
    )
    pred = predict(model, val[0], p.evaluate.batch_size, dev).argmax(-1)
    print(
        json.dumps(
            {
                "overrides": overrides,
                "val_acc": [round(r["val_acc"], 3) for r in history],
                "val_mean_class_acc": round(
                    float(mean_class_accuracy(confusion_matrix(val[1], pred, store.num_classes))), 3
                ),
                "seconds": round(time.perf_counter() - start),
            }
        )
    )


if __name__ == "__main__":
    typer.run(main)
