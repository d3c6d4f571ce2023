"""Relabeling inside the training loop: the loop's label store, not the workers' copies, holds the changes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mvt_fer.data.dataset import ImageDataset
from mvt_fer.engine.runtime import seed_everything
from mvt_fer.engine.train import fit_classifier
from mvt_fer.models import create_classifier
from mvt_fer.params import AugmentParams, ModelParams, MvtParams, RelabelParams
from mvt_fer.relabel import LabelStore, started_epoch

MODEL = ModelParams(patch_size=8, embed_dim=32, depth=2, num_heads=2)


def _run(num_workers: int, relabel: RelabelParams, epochs: int = 3):
    rng = np.random.default_rng(0)
    clean = np.arange(48) % 2
    images = rng.integers(0, 60, (48, 16, 16, 3), dtype=np.uint8)
    for i, y in enumerate(clean):
        images[i, :, y * 8 : (y + 1) * 8] += 150
    noisy = clean.copy()
    noisy[:12] = 1 - noisy[:12]  # a quarter of the labels flipped
    store = LabelStore(noisy, clean)
    seed_everything(0)
    model = create_classifier(MODEL, 2, 16)
    p = MvtParams(
        epochs=epochs,
        batch_size=16,
        lr=2e-3,
        warmup_epochs=0,
        num_workers=num_workers,
        augment=AugmentParams(hflip=0.0, shift=0.0, color_jitter=0.0, random_erasing=0.0),
    )
    history = fit_classifier(model, ImageDataset(images), store, p=p, seed=0, dev=torch.device("cpu"), relabel=relabel)
    return store, history


@pytest.mark.parametrize("num_workers", [0, 2])
def test_changes_persist_across_epochs_and_replay_from_the_log(num_workers):
    # delta 0, f = 0: every sample whose prediction disagrees with its label is relabeled: many changes.
    store, history = _run(
        num_workers, RelabelParams(enabled=True, fn="constant", delta=0.0, start_epoch=1, min_train_acc=None)
    )
    assert len(store.log) > 0 and {e["epoch"] for e in store.log} <= {1, 2, 3}
    replay = (np.arange(48) % 2).copy()
    replay[:12] = 1 - replay[:12]
    for e in store.log:  # each change starts from the label the previous changes left
        assert replay[e["index"]] == e["old"]
        replay[e["index"]] = e["new"]
    assert (replay == store.labels).all()
    assert [h["relabel_count"] for h in history] == [sum(e["epoch"] == k for e in store.log) for k in (1, 2, 3)]


def test_later_epochs_train_on_the_relabeled_targets(monkeypatch):
    # Record what each batch is trained on, beside which rows it holds: in epoch 2 every row's target
    # must be its label as epoch 1's changes left it (each row is seen once per epoch, before any of
    # epoch 2's own changes to it), not the label it started with.
    import mvt_fer.data.loader as batches
    import mvt_fer.engine.train as loop

    seen, trained = [], []
    to_device, step = batches.to_device, loop.classifier_step
    monkeypatch.setattr(
        batches, "to_device", lambda batch, dev: seen.append(batch["index"].clone()) or to_device(batch, dev)
    )
    monkeypatch.setattr(
        loop, "classifier_step", lambda *a, **kw: trained.append(kw["targets"].clone()) or step(*a, **kw)
    )
    store, history = _run(
        0, RelabelParams(enabled=True, fn="constant", delta=0.0, start_epoch=1, min_train_acc=None), epochs=2
    )
    after_epoch_1 = (np.arange(48) % 2).copy()
    after_epoch_1[:12] = 1 - after_epoch_1[:12]
    for e in (e for e in store.log if e["epoch"] == 1):
        after_epoch_1[e["index"]] = e["new"]
    per_epoch = len(seen) // 2
    rows, targets = torch.cat(seen[per_epoch:]).numpy(), torch.cat(trained[per_epoch:]).numpy()
    assert history[0]["relabel_count"] > 0 and len(set(rows)) == len(rows)
    assert (targets == after_epoch_1[rows]).all()


def test_same_seed_same_relabels_with_workers():
    r = RelabelParams(enabled=True, fn="constant", delta=0.0, start_epoch=2, min_train_acc=None)
    a, _ = _run(2, r)
    b, _ = _run(2, r)
    assert a.log == b.log and min(e["epoch"] for e in a.log) >= 2


def test_disabled_changes_nothing():
    store, history = _run(0, RelabelParams(enabled=False, delta=0.0, start_epoch=1), epochs=2)
    assert store.log == [] and "relabel_count" not in history[0]


def test_gate_starts_relabeling_after_the_first_epoch_at_the_training_accuracy():
    # A gate that never opens gives the trajectory without relabeling; the gate is then set to an accuracy
    # that trajectory first reaches in a later epoch k, so relabeling must start at epoch k + 1 exactly.
    never = RelabelParams(enabled=True, fn="constant", delta=0.0, start_epoch=1, min_train_acc=1.0)
    store, free = _run(0, never, epochs=4)
    accs = [h["train_acc"] for h in free]
    assert store.log == [] and started_epoch(free) is None and [h["relabel_on"] for h in free] == [0] * 4
    k = next(e for e, acc in enumerate(accs, 1) if acc > accs[0])  # the toy's accuracy rises after epoch 1
    assert k < 4
    gated = RelabelParams(enabled=True, fn="constant", delta=0.0, start_epoch=1, min_train_acc=accs[k - 1])
    store, history = _run(0, gated, epochs=4)
    assert started_epoch(history) == k + 1 and [h["relabel_on"] for h in history] == [0] * k + [1] * (4 - k)
    assert history[:k] == free[:k]  # nothing changed before the gate opened
    assert len(store.log) > 0 and min(e["epoch"] for e in store.log) == k + 1
