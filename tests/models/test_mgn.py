import copy

import torch

from mvt_fer.models import MaskGenerator, create_backbone, create_generator
from mvt_fer.params import ModelParams

MODEL = ModelParams(patch_size=8, embed_dim=32, depth=4, num_heads=2, drop_path_rate=0.0)


def test_generator_outputs_one_value_per_patch_in_unit_range():
    G = create_generator(MODEL, depth=2, img_size=32)
    mp = G(torch.rand(3, 3, 32, 32))
    assert mp.shape == (3, 16) and G.grid == (4, 4) and G.patch_size == 8
    assert (mp >= 0).all() and (mp <= 1).all()
    assert len(G.vit.blocks) == 2


def test_generator_reads_the_patch_tokens_after_block_depth_of_the_backbone():
    # Reference: the untouched backbone's tokens after its second block (timm's forward_intermediates), so a
    # G that ran more or fewer blocks, kept the final norm, or read the class token would differ.
    torch.manual_seed(0)
    backbone = create_backbone(MODEL, num_classes=7, img_size=32).eval()
    G = MaskGenerator(copy.deepcopy(backbone), depth=2).eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        blocks = backbone.patch_embed(G.normalize(x))
        blocks = backbone.norm_pre(backbone._pos_embed(blocks))
        after = [blocks := block(blocks) for block in backbone.blocks]
        expected = [G.head(G.norm(t[:, backbone.num_prefix_tokens :])).squeeze(-1) for t in after]
        got = G.logits(x)
    assert torch.allclose(got, expected[1], atol=1e-6)
    assert all(not torch.allclose(got, e, atol=1e-3) for k, e in enumerate(expected) if k != 1)
    assert len(G.vit.blocks) == 2 and isinstance(G.vit.norm, torch.nn.Identity)


def test_generator_is_trainable_end_to_end():
    G = create_generator(MODEL, depth=1, img_size=32)
    G(torch.rand(2, 3, 32, 32)).mean().backward()
    assert G.head.weight.grad is not None
    assert all(t.grad is not None for t in G.vit.patch_embed.parameters())  # the stem trains with G


def test_mask_generator_takes_a_copy_of_its_backbone():
    backbone = create_backbone(MODEL, num_classes=7, img_size=32)
    G = MaskGenerator(copy.deepcopy(backbone), depth=3)
    assert len(G.vit.blocks) == 3 and len(backbone.blocks) == 4
