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


def test_generator_blocks_are_the_backbones_first_blocks():
    torch.manual_seed(0)
    backbone = create_backbone(MODEL, num_classes=7, img_size=32)
    G = create_generator(MODEL, depth=2, img_size=32)
    # Loading the same checkpoint: G takes the backbone's weights for everything it shares with it.
    missing, unexpected = G.vit.load_state_dict(backbone.state_dict(), strict=False)
    assert not missing
    assert all(k.startswith(("blocks.2.", "blocks.3.", "norm.", "head.")) for k in unexpected)
    for i in range(2):
        for (name, a), (_, b) in zip(G.vit.blocks[i].state_dict().items(), backbone.blocks[i].state_dict().items()):
            assert torch.equal(a, b), f"block {i} {name}"
    for (name, a), (_, b) in zip(G.vit.patch_embed.state_dict().items(), backbone.patch_embed.state_dict().items()):
        assert torch.equal(a, b), f"patch_embed {name}"  # the conv stem, BatchNorm statistics included
    assert torch.equal(G.vit.pos_embed, backbone.pos_embed)


def test_generator_is_trainable_end_to_end():
    G = create_generator(MODEL, depth=1, img_size=32)
    G(torch.rand(2, 3, 32, 32)).mean().backward()
    assert G.head.weight.grad is not None
    assert all(t.grad is not None for t in G.vit.patch_embed.parameters())  # the stem trains with G


def test_mask_generator_takes_a_copy_of_its_backbone():
    backbone = create_backbone(MODEL, num_classes=7, img_size=32)
    G = MaskGenerator(copy.deepcopy(backbone), depth=3)
    assert len(G.vit.blocks) == 3 and len(backbone.blocks) == 4
