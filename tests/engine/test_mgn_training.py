import numpy as np
import pytest
import torch

from mvt_fer.data.dataset import ImageDataset
from mvt_fer.data.mask_store import MaskStore, write_masks
from mvt_fer.engine.inference import generate_masks
from mvt_fer.engine.mgn import discriminator_step, fit_mgn, generator_step
from mvt_fer.engine.runtime import adamw, seed_everything
from mvt_fer.errors import UserError
from mvt_fer.masking import MaskReading, MaskSpec, keep_grid, random_patch_mask
from mvt_fer.models import create_classifier, create_generator
from mvt_fer.params import AugmentParams, MgnParams, ModelParams

MODEL = ModelParams(patch_size=8, embed_dim=32, depth=2, num_heads=2, drop_path_rate=0.0)
STILL = AugmentParams(hflip=0.0, shift=0.0, color_jitter=0.0, random_erasing=0.0)


def _data(n=32):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8), torch.as_tensor(np.arange(n) % 3)


def _state(net: torch.nn.Module) -> dict:
    return {k: v.clone() for k, v in net.state_dict().items()}  # parameters and BatchNorm statistics


def _changed(before: dict, net: torch.nn.Module) -> list[str]:
    return [k for k, v in net.state_dict().items() if not torch.equal(v, before[k])]


@pytest.mark.parametrize("estimator", ["sampled", "straight_through", "soft"])
def test_a_g_step_moves_only_g_and_a_d_step_only_d(estimator):
    seed_everything(0)
    G, D = create_generator(MODEL, 1, 16), create_classifier(MODEL, 3, 16)  # conv stems: BatchNorm buffers too
    p = MgnParams(depth=1, estimator=estimator, samples=2, batch_size=8, weight_decay=0.0, augment=STILL)
    images, y = torch.rand(8, 3, 16, 16), torch.arange(8) % 3
    rng = torch.Generator().manual_seed(0)
    cpu = torch.device("cpu")
    opt_g, opt_d = adamw(G, 1e-2, weight_decay=0.0, dev=cpu), adamw(D, 1e-2, weight_decay=0.0, dev=cpu)
    sched_g, sched_d = (torch.optim.lr_scheduler.LambdaLR(o, lambda step: 1.0) for o in (opt_g, opt_d))

    g0, d0 = _state(G), _state(D)
    spec = MaskSpec(p.view, 0.25, p.estimator)
    generator_step(G, D, images, optimizer=opt_g, scheduler=sched_g, spec=spec, samples=p.samples, rng=rng)
    assert _changed(d0, D) == [] and all(t.grad is None for t in D.parameters())
    assert "head.weight" in _changed(g0, G)  # without weight decay, only a gradient moves it
    assert all(t.requires_grad for t in D.parameters())  # D frozen for the G step only

    g1, d1 = _state(G), _state(D)
    r = random_patch_mask(8, 4, 0.25, rng)
    discriminator_step(
        G, D, images, labels=y, r=r, optimizer=opt_d, scheduler=sched_d, spec=spec, rng=rng, warmup=False
    )
    assert _changed(g1, G) == []
    assert "backbone.head.weight" in _changed(d1, D)


@pytest.mark.parametrize("view", ["show", "hide"])
def test_fit_mgn_updates_both_networks_and_is_seeded(view):
    images, labels = _data()

    def run():
        seed_everything(0)
        G = create_generator(MODEL, 1, 16)
        D = create_classifier(MODEL, 3, 16)
        p = MgnParams(view=view, depth=1, d_warmup_epochs=1, epochs=1, batch_size=8, augment=STILL)
        before = (G.head.weight.clone(), D.backbone.head.weight.clone())
        history = fit_mgn(
            G,
            D,
            ImageDataset(images),
            labels=labels,
            p=p,
            spec=MaskSpec(view, 0.25),
            seed=0,
            dev=torch.device("cpu"),
            monitor=(ImageDataset(images), labels.numpy()),
        )
        assert not torch.equal(before[0], G.head.weight) and not torch.equal(before[1], D.backbone.head.weight)
        return G, history

    G1, h1 = run()
    G2, h2 = run()
    assert [r["phase"] for r in h1] == ["warmup", "adversarial"]
    assert np.isnan(h1[0]["loss_g"]) and np.isfinite(h1[1]["loss_g"])
    assert {"val_d_acc_full", "val_d_acc_random", "val_d_acc_generated", "val_mean_mp"} <= set(h1[1])
    assert {"val_d_acc_kept_random", "val_d_acc_kept_generated"} <= set(h1[1])
    assert torch.equal(G1.head.weight, G2.head.weight)
    assert str(h1) == str(h2)


def test_g_learns_to_keep_the_region_that_carries_the_class():
    # The class lives in the top-left patch alone (one colour channel lit per class), the other three are
    # noise. D learns to read it; G, rewarded for views that leave D undecided (Eq. 2), must learn to show
    # D the noise, so the mask read at inference (erase the top-Mp patch, m = 1/4) spares the class patch.
    # A random mask of that area erases it in 1/4 of the images.
    rng = np.random.default_rng(0)
    labels = torch.as_tensor(np.arange(96) % 3)
    images = rng.integers(0, 80, (96, 16, 16, 3), dtype=np.uint8)
    for i, c in enumerate(labels.tolist()):
        images[i, :8, :8, c] = 230
    seed_everything(0)
    G, D = create_generator(MODEL, 1, 16), create_classifier(MODEL, 3, 16)
    p = MgnParams(depth=1, d_warmup_epochs=6, epochs=20, batch_size=16, lr_d=2e-3, lr_g=3e-3, augment=STILL)
    fit_mgn(
        G, D, ImageDataset(images), labels=labels, p=p, spec=MaskSpec("show", 0.25), seed=0, dev=torch.device("cpu")
    )
    mp = generate_masks(G, ImageDataset(images), 64, dev=torch.device("cpu")).astype(np.float32)
    erased = 1 - keep_grid(mp, "show", 0.25, hard=True)
    assert erased[:, 0, 0].mean() <= 0.05  # random: 0.25
    assert mp[:, 0, 0].mean() < 0.5 * mp.reshape(96, 4)[:, 1:].mean()


def test_generate_masks_is_a_float16_grid_in_dataset_order():
    images, _ = _data(10)
    G = create_generator(MODEL, 1, 16).eval()
    mp = generate_masks(G, ImageDataset(images), 4, dev=torch.device("cpu"))
    assert mp.shape == (10, 2, 2) and mp.dtype == np.float16
    with torch.no_grad():
        direct = G(torch.from_numpy(images[3:4]).permute(0, 3, 1, 2).float() / 255).reshape(2, 2)
    assert np.allclose(mp[3], direct.numpy(), atol=1e-3)


def test_mask_store_round_trip_and_stale_masks(tmp_path):
    mp = np.random.default_rng(0).random((5, 2, 2)).astype(np.float16)
    write_masks(tmp_path / "masks", {"train": mp}, {"view": "show", "mask_ratio": 0.25, "hard": True})
    store = MaskStore(tmp_path / "masks")
    assert store.meta["view"] == "show" and store.meta["splits"] == {"train": 5}
    assert np.array_equal(store.mp("train", 5), mp)
    with pytest.raises(UserError, match="5 masks for 6 prepared train images"):
        store.mp("train", 6)
    with pytest.raises(UserError, match="no masks for split 'test'"):
        store.mp("test", 5)
    with pytest.raises(UserError, match="run the masks stage"):
        MaskStore(tmp_path / "none")


def test_generator_checkpoint_round_trip(tmp_path):
    from mvt_fer.engine.checkpoint import load_generator, save_generator

    G = create_generator(MODEL, 1, 16, temperature=0.5).eval()
    save_generator(tmp_path / "g.pt", G, model_params=MODEL, depth=1, reading=MaskReading("hide", 0.2, hard=False))
    loaded, reading = load_generator(tmp_path / "g.pt")
    assert reading == MaskReading("hide", 0.2, hard=False)
    assert loaded.temperature == 0.5 and len(loaded.vit.blocks) == 1 and loaded.image_size == 16
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), G(x))
