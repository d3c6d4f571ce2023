"""model.pretrained: local .pth / .safetensors weights through timm's loader, and clear errors."""

from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file

from mvt_fer.engine.checkpoint import load_classifier, save_classifier
from mvt_fer.errors import UserError
from mvt_fer.models import create_backbone, create_classifier, create_generator
from mvt_fer.params import ModelParams

# Pretrained weights fit the ViT's own patch projection (model.stem: patch), as in the paper presets.
TINY = dict(name="deit_small_patch16_224", patch_size=8, embed_dim=32, depth=2, num_heads=2, stem="patch")


def _imagenet_like(img_size=64, **over):
    """A 1000-class checkpoint of the tiny architecture at another image size, as an ImageNet file would be."""
    torch.manual_seed(0)
    kw = {k: v for k, v in (TINY | over).items() if k not in ("name", "stem")}
    return timm.create_model(TINY["name"], pretrained=False, img_size=img_size, num_classes=1000, **kw)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_local_weights_reach_classifier_and_generator(tmp_path, suffix):
    source = _imagenet_like()
    path = tmp_path / f"weights{suffix}"
    (torch.save if suffix == ".pth" else save_file)(source.state_dict(), str(path))
    p = ModelParams(**TINY, pretrained=str(path))
    clf = create_classifier(p, num_classes=7, img_size=32)
    assert torch.equal(clf.backbone.blocks[1].mlp.fc1.weight, source.blocks[1].mlp.fc1.weight)
    assert clf.backbone.pos_embed.shape == (1, 1 + 16, 32)  # resampled from 64 px to 32 px
    assert clf.backbone.head.weight.shape == (7, 32)  # the 1000-class head is dropped
    G = create_generator(p, depth=1, img_size=32)
    assert torch.equal(G.vit.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)


def test_checkpoints_reload_without_the_pretrained_file(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save(_imagenet_like().state_dict(), path)
    p = ModelParams(**TINY, pretrained=str(path))
    clf = create_classifier(p, num_classes=3, img_size=32)
    save_classifier(tmp_path / "mvt.pt", clf, model_params=p, classes=["a", "b", "c"], image_size=32)
    path.unlink()
    loaded, _ = load_classifier(tmp_path / "mvt.pt")
    assert torch.equal(loaded.backbone.pos_embed, clf.backbone.pos_embed)


def test_missing_or_mismatched_weights_give_one_line(tmp_path):
    with pytest.raises(UserError, match=r"model.pretrained: .*nowhere.pth does not exist"):
        create_backbone(ModelParams(**TINY, pretrained=str(tmp_path / "nowhere.pth")), 7, 32)
    path = tmp_path / "wide.pth"
    torch.save(_imagenet_like(embed_dim=48).state_dict(), path)
    with pytest.raises(UserError, match=r"model.pretrained: the weights in .*wide.pth do not fit") as err:
        create_backbone(ModelParams(**TINY, pretrained=str(path)), 7, 32)
    assert "\n" not in str(err.value)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match=r"model.pretrained: .*junk.pth cannot be read as weights"):
        create_backbone(ModelParams(**TINY, pretrained=str(tmp_path / "junk.pth")), 7, 32)


def test_timm_hub_offline_is_a_clear_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import, not per call
    with pytest.raises(UserError, match=r"model.pretrained: could not fetch timm's weights"):
        create_backbone(ModelParams(**TINY, pretrained="timm"), 7, 32)
