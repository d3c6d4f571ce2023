import numpy as np
import pytest
import torch

from mvt_fer.data.dataset import ImageDataset
from mvt_fer.engine.checkpoint import load_classifier, save_classifier
from mvt_fer.engine.runtime import seed_everything
from mvt_fer.engine.train import fit_classifier, warmup_exp_decay
from mvt_fer.errors import UserError
from mvt_fer.models import create_classifier
from mvt_fer.params import AugmentParams, ModelParams, MvtParams
from mvt_fer.relabel import LabelStore

MODEL = ModelParams(patch_size=8, embed_dim=32, depth=2, num_heads=2)
CPU = torch.device("cpu")


def test_warmup_then_exponential_decay():
    f = warmup_exp_decay(steps_per_epoch=4, warmup_epochs=1, gamma=0.5)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert [f(s) for s in (4, 7, 8, 12)] == [1.0, 1.0, 0.5, 0.25]
    g = warmup_exp_decay(steps_per_epoch=4, warmup_epochs=0, gamma=0.5)
    assert g(0) == 1.0 and g(4) == 0.5


def _toy(n=48):
    # Class = which half of the image is bright: learnable in a few steps.
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    images = rng.integers(0, 60, (n, 16, 16, 3), dtype=np.uint8)
    for i, y in enumerate(labels):
        images[i, :, y * 8 : (y + 1) * 8] += 150
    return images, torch.as_tensor(labels)


def _fit(
    num_workers=0, epochs=3, seed=0, augment=AugmentParams(hflip=0.0), compile=False, ema_decay=None, on_epoch=None
):
    """Train the toy task; `on_epoch(model, history)` runs after every epoch (before an average replaces the
    weights at the end)."""
    images, labels = _toy()
    seed_everything(seed)
    model = create_classifier(MODEL, 2, 16)
    p = MvtParams(
        epochs=epochs,
        batch_size=16,
        lr=2e-3,
        warmup_epochs=0,
        num_workers=num_workers,
        augment=augment,
        compile=compile,
        ema_decay=ema_decay,
    )
    ds = ImageDataset(images)
    history = fit_classifier(
        model,
        ds,
        LabelStore(labels.numpy(), labels.numpy()),
        p=p,
        seed=seed,
        dev=torch.device("cpu"),
        monitor={"train": (ImageDataset(images), labels.numpy())},
        on_epoch=(lambda h: on_epoch(model, h)) if on_epoch else None,
    )
    return model, history


def test_learns_a_toy_task():
    # With the conv stem the toy is solved by epoch 2 (loss 0.63 -> 0.21 by epoch 4, under OMP_NUM_THREADS
    # 1 and 2 alike); the patch projection needed 15 epochs and failed on another CPU. Wide margins on purpose.
    still = AugmentParams(hflip=0.0, shift=0.0, color_jitter=0.0, random_erasing=0.0)
    _, history = _fit(epochs=6, augment=still)
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["train_acc"] >= 0.95


@pytest.mark.parametrize("num_workers", [0, 2])
def test_same_seed_same_weights(num_workers):
    a, ha = _fit(num_workers=num_workers, epochs=2)
    b, hb = _fit(num_workers=num_workers, epochs=2)
    assert ha == hb
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), k


def test_workers_do_not_change_the_result():
    # Augmentation is drawn per (epoch, batch) on the device, so the worker count (mvt.num_workers, by default
    # from the machine's cores) cannot change a run.
    augment = AugmentParams(shift=0.1, random_erasing=0.25)  # every random transform
    a, ha = _fit(num_workers=0, epochs=2, augment=augment)
    b, hb = _fit(num_workers=2, epochs=2, augment=augment)
    assert ha == hb
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), k


def test_checkpoint_round_trip(tmp_path):
    model = create_classifier(MODEL, 3, 16).eval()
    save_classifier(tmp_path / "m.pt", model, model_params=MODEL, classes=["a", "b", "c"], image_size=16)
    loaded, meta = load_classifier(tmp_path / "m.pt")
    assert meta["classes"] == ["a", "b", "c"]
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_foreign_checkpoint_is_a_user_error(tmp_path):
    (tmp_path / "m.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="m.pt: not a classifier checkpoint written by train_mvt"):
        load_classifier(tmp_path / "m.pt")


def test_checkpoint_of_another_architecture_is_a_user_error(tmp_path):
    model = create_classifier(MODEL, 3, 16)
    save_classifier(tmp_path / "m.pt", model, model_params=MODEL, classes=["a", "b", "c"], image_size=16)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["model"]["embed_dim"] = 64  # claims a wider network than the weights it carries
    torch.save(payload, tmp_path / "m.pt")
    with pytest.raises(UserError, match="m.pt: not a classifier checkpoint written by train_mvt"):
        load_classifier(tmp_path / "m.pt")


def test_balanced_sampler_draws_classes_evenly_and_is_seeded():
    from mvt_fer.data.loader import ClassBalancedSampler

    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)
    draws = [list(ClassBalancedSampler(labels, 3)) for _ in range(2)]
    assert draws[0] == draws[1] and len(draws[0]) == 1000
    share = np.bincount(labels[draws[0]], minlength=3) / 1000
    assert np.all(np.abs(share - 1 / 3) < 0.06), share  # uniform sampling would give 0.90 / 0.09 / 0.01
    other = ClassBalancedSampler(labels, 3)
    other.set_epoch(1)
    assert list(other) != draws[0]


def test_balanced_sampler_under_two_processes_draws_what_one_process_draws():
    # Each process takes every second draw of the same sequence: together the same images, so the same
    # class counts (the issue asks within 1%; here they are equal), and as many steps on each process.
    from mvt_fer.data.loader import ClassBalancedSampler

    labels = np.random.default_rng(0).choice(8, 10_001, p=[0.4, 0.25, 0.1, 0.08, 0.07, 0.05, 0.03, 0.02])
    one = ClassBalancedSampler(labels, 7)
    shares = [ClassBalancedSampler(labels, 7, rank, 2) for rank in (0, 1)]
    for s in (one, *shares):
        s.set_epoch(4)
    a, b = (list(s) for s in shares)
    assert len(a) == len(b) == 5000
    assert np.array_equal(np.bincount(labels[a + b], minlength=8), np.bincount(labels[list(one)[:10_000]], minlength=8))
    assert sorted(a + b) == sorted(list(one)[:10_000])


@pytest.mark.slow
def test_compiled_training_matches_eager_and_saves_plain_weights(tmp_path):
    eager, h_eager = _fit(epochs=1)
    compiled, h_compiled = _fit(epochs=1, compile=True)
    assert h_compiled[-1]["train_loss"] == pytest.approx(h_eager[-1]["train_loss"], rel=1e-3)
    save_classifier(tmp_path / "m.pt", compiled, model_params=MODEL, classes=["a", "b"], image_size=16)
    assert not any("_orig_mod" in k for k in torch.load(tmp_path / "m.pt")["state_dict"])


def test_batch_per_device_sets_the_global_batch_and_linear_scaling_the_lr(monkeypatch):
    import mvt_fer.engine.train as train

    images, labels = _toy(n=48)
    sizes, step = [], train.classifier_step
    monkeypatch.setattr(train, "classifier_step", lambda *a, **kw: sizes.append(len(kw["targets"])) or step(*a, **kw))
    for per_device, scaling, batch, lr in ((None, "none", 16, 2e-3), (8, "none", 8, 2e-3), (8, "linear", 8, 1e-3)):
        sizes.clear()
        p = MvtParams(
            epochs=1,
            batch_size=16,
            lr=2e-3,
            warmup_epochs=0,
            num_workers=0,
            augment=AugmentParams(hflip=0.0),
            batch_per_device=per_device,
            lr_scaling=scaling,
        )
        model = create_classifier(MODEL, 2, 16)
        history = fit_classifier(
            model, ImageDataset(images), LabelStore(labels.numpy(), labels.numpy()), p=p, seed=0, dev=CPU
        )
        assert sizes == [batch] * (48 // batch)  # one process: the global batch is batch_per_device
        assert history[0]["lr"] == pytest.approx(lr)


def test_vote_targets_train_on_the_distribution_and_score_on_the_label(monkeypatch):
    # mvt.targets: votes: every step's loss is the cross-entropy against each row's vote distribution,
    # H(q, p) = -sum_k q_k log p_k (not against its majority label), and train_acc is still on the labels.
    import mvt_fer.engine.train as train

    images, labels = _toy()
    soft = np.zeros((len(labels), 2), np.float32)
    soft[np.arange(len(labels)), labels.numpy()] = 0.7
    soft[np.arange(len(labels)), 1 - labels.numpy()] = 0.3
    steps, step = [], train.classifier_step

    def record(model, optimizer, scheduler, *, images, keep, targets, **kw):
        loss, logits = step(model, optimizer, scheduler, images=images, keep=keep, targets=targets, **kw)
        steps.append((targets.clone(), logits.detach().clone(), loss.clone()))
        return loss, logits

    monkeypatch.setattr(train, "classifier_step", record)
    seed_everything(0)
    p = MvtParams(epochs=1, batch_size=16, lr=2e-3, warmup_epochs=0, num_workers=0, augment=AugmentParams(hflip=0.0))
    history = fit_classifier(
        create_classifier(MODEL, 2, 16),
        ImageDataset(images),
        LabelStore(labels.numpy(), labels.numpy()),
        p=p,
        seed=0,
        dev=CPU,
        soft_targets=soft,
    )
    assert len(steps) == 3 and 0 <= history[0]["train_acc"] <= 1
    for targets, logits, loss in steps:
        assert targets.dtype == torch.float32 and targets.shape == (16, 2)
        assert sorted(set(targets.flatten().tolist())) == pytest.approx([0.3, 0.7])
        expected = -(targets * logits.float().log_softmax(-1)).sum(-1).mean()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    mean_loss = sum(loss.item() for *_, loss in steps) / 3
    assert history[0]["train_loss"] == pytest.approx(mean_loss, rel=1e-6)


def test_vote_targets_of_relabeled_rows_are_their_new_labels(monkeypatch):
    # mvt.targets: votes with relabeling (Eq. 6 from epoch 1, no gate, f = 0, delta 0: every row the
    # untrained model disagrees with moves): epoch 1 trains on the distributions only; in epoch 2 each row
    # that epoch 1 moved away from its label trains on its new label, one-hot, and only those.
    import mvt_fer.engine.train as train
    from mvt_fer.params import RelabelParams

    images, labels = _toy()
    soft = np.where(np.eye(2, dtype=bool)[labels.numpy()], 0.7, 0.3).astype(np.float32)
    store = LabelStore(labels.numpy(), labels.numpy())
    one_hot_rows, step = [], train.classifier_step

    def record(model, optimizer, scheduler, *, images, keep, targets, **kw):
        one_hot_rows.append(int((targets == 1).any(-1).sum()))
        return step(model, optimizer, scheduler, images=images, keep=keep, targets=targets, **kw)

    monkeypatch.setattr(train, "classifier_step", record)
    moved = []
    seed_everything(0)
    p = MvtParams(epochs=2, batch_size=16, lr=2e-3, warmup_epochs=0, num_workers=0, augment=AugmentParams(hflip=0.0))
    fit_classifier(
        create_classifier(MODEL, 2, 16),
        ImageDataset(images),
        store,
        p=p,
        seed=0,
        dev=CPU,
        relabel=RelabelParams(enabled=True, fn="constant", delta=0.0, start_epoch=1, min_train_acc=None),
        on_epoch=lambda history: moved.append(int((store.labels != store.initial).sum())),
        soft_targets=soft,
    )
    assert moved[0] > 0 and sum(one_hot_rows[:3]) == 0
    assert sum(one_hot_rows[3:]) == moved[0]


def test_label_smoothing_is_the_smoothed_cross_entropy():
    from mvt_fer.engine.train import classifier_step

    torch.manual_seed(0)
    model = create_classifier(MODEL, 3, 16)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    x, y = torch.rand(8, 3, 16, 16), torch.arange(8) % 3
    loss, logits = classifier_step(model, opt, sched, images=x, keep=None, targets=y, label_smoothing=0.3)
    log_p = logits.detach().float().log_softmax(-1)
    smoothed = torch.full((8, 3), 0.1).scatter(1, y[:, None], 0.8)  # (1 - 0.3) on y + 0.3 / 3 everywhere
    assert loss.item() == pytest.approx(-(smoothed * log_p).sum(-1).mean().item(), rel=1e-5)


def test_ema_does_not_change_the_training_run():
    # The lever table reads the raw and the averaged weights from one run (experiments/recipe_probe.py):
    # that holds only if the average draws nothing from the random streams and feeds nothing back.
    def run(ema_decay):
        raw = {}
        _, history = _fit(
            epochs=2,
            ema_decay=ema_decay,
            on_epoch=lambda model, h: raw.update({k: v.clone() for k, v in model.state_dict().items()}),
        )
        return [h["train_loss"] for h in history], raw

    (loss_plain, raw_plain), (loss_ema, raw_ema) = run(None), run(0.9)
    assert loss_plain == loss_ema
    assert all(torch.equal(raw_plain[k], raw_ema[k]) for k in raw_plain)


def test_ema_weights_are_what_is_scored_and_kept():
    # A decay this close to 1 leaves the average at the initial weights: the model that comes back (what
    # train_mvt saves) and the monitored accuracy are the average's, while the raw weights learn the task.
    images, labels = _toy()
    seed_everything(0)
    model = create_classifier(MODEL, 2, 16)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    p = MvtParams(
        epochs=3,
        batch_size=16,
        lr=2e-3,
        warmup_epochs=0,
        num_workers=0,
        ema_decay=0.999999,
        augment=AugmentParams(hflip=0.0),
    )
    history = fit_classifier(
        model,
        ImageDataset(images),
        LabelStore(labels.numpy(), labels.numpy()),
        p=p,
        seed=0,
        dev=CPU,
        monitor={"whole": (ImageDataset(images), labels.numpy())},
    )
    weights = [k for k, v in start.items() if v.is_floating_point()]  # not BatchNorm's batch counter
    moved = max((model.state_dict()[k] - start[k]).abs().max().item() for k in weights)
    assert moved < 1e-3
    assert history[-1]["train_acc"] > 0.9  # the raw weights, during training
    assert history[-1]["whole_acc"] < 0.8  # the average's, near the untrained model's
