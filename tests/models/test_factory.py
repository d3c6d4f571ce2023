import pytest
import torch

from mvt_fer.errors import UserError
from mvt_fer.models import create_classifier
from mvt_fer.params import ModelParams

TINY = ModelParams(patch_size=8, embed_dim=32, depth=2, num_heads=2, drop_path_rate=0.0)


def test_overrides_reach_the_timm_model():
    model = create_classifier(TINY, num_classes=7, img_size=32)
    vit = model.backbone
    assert len(vit.blocks) == 2 and vit.embed_dim == 32 and model.patch_size == 8
    assert vit.patch_embed.num_patches == 16
    assert model(torch.rand(3, 3, 32, 32)).shape == (3, 7)


def test_keep_mask_of_ones_changes_nothing_and_zeros_mean_black():
    torch.manual_seed(0)
    model = create_classifier(TINY, num_classes=7, img_size=32).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        plain = model(x)
        assert torch.allclose(model(x, torch.ones(2, 4, 4)), plain)
        assert torch.allclose(model(x, torch.zeros(2, 4, 4)), model(torch.zeros_like(x)))


def test_unknown_model_name():
    with pytest.raises(UserError, match="model.name: timm has no model 'vit_nonexistent'"):
        create_classifier(ModelParams(name="vit_nonexistent"), 7, 32)


def test_patch_must_divide_the_image():
    with pytest.raises(UserError, match="model.patch_size"):
        create_classifier(ModelParams(patch_size=7, embed_dim=32, depth=1, num_heads=2), 7, 32)


def test_conv_stem_ends_on_the_patch_grid():
    # What keeps masks, up() and export unchanged: the same grid and patch side as the patch projection.
    conv = create_classifier(TINY.model_copy(update={"stem": "conv"}), num_classes=7, img_size=32)
    patch = create_classifier(TINY.model_copy(update={"stem": "patch"}), num_classes=7, img_size=32)
    for model in (conv, patch):
        assert model.patch_size == 8 and model.backbone.patch_embed.grid_size == (4, 4)
    stem = conv.backbone.patch_embed.proj
    assert [m.conv.stride for m in stem] == [(2, 2), (2, 2), (2, 2), (1, 1)]  # three halvings of 8, then 1x1
    assert stem[-1].conv.out_channels == 32 and isinstance(patch.backbone.patch_embed.proj, torch.nn.Conv2d)
    tokens = conv.backbone.patch_embed(torch.rand(2, 3, 32, 32))
    assert tokens.shape == (2, 16, 32)


def test_conv_stem_needs_a_power_of_two_patch():
    with pytest.raises(UserError, match="model.patch_size: 6 with model.stem: conv"):
        create_classifier(ModelParams(patch_size=6, embed_dim=32, depth=1, num_heads=2, stem="conv"), 7, 36)
