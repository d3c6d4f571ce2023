"""The mask generation network's generator G (paper Sec. 3.1-3.2, Fig. 4)."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UserError
from ..params import ModelParams
from .factory import Normalize, create_backbone


class MaskGenerator(nn.Module):
    """G: patch embedding + position embedding + the backbone's first `depth` blocks, then Linear(D->1)
    and a sigmoid per patch token: images (B, 3, H, W) in [0, 1] -> Mp in [0, 1]^(B, N).

    The truncated backbone keeps timm's own token path (class token included), so that with ImageNet
    weights its blocks see the inputs they were trained on; only the N patch tokens are read out.
    """

    def __init__(self, backbone: nn.Module, depth: int, temperature: float = 1.0):
        super().__init__()
        if not 1 <= depth <= len(backbone.blocks):
            raise UserError(f"mgn.depth: {depth} must be between 1 and the backbone's {len(backbone.blocks)} blocks")
        # timm's own truncation: blocks after `depth` and the head go, and the final norm (it belongs to
        # the backbone's last block, not to block `depth`).
        self.block_index = backbone.prune_intermediate_layers([depth - 1], prune_norm=True, prune_head=True)[0]
        self.vit = backbone
        self.norm = nn.LayerNorm(backbone.embed_dim)
        self.head = nn.Linear(backbone.embed_dim, 1)
        self.temperature = temperature
        self.normalize = Normalize(backbone)

    @property
    def patch_size(self) -> int:
        return self.vit.patch_embed.patch_size[0]

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.vit.patch_embed.grid_size)

    @property
    def image_size(self) -> int:
        return self.vit.patch_embed.img_size[0]

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid patch scores (B, N)."""
        (tokens,) = self.vit.forward_intermediates(
            self.normalize(images), indices=[self.block_index], norm=False, output_fmt="NLC", intermediates_only=True
        )  # patch tokens only
        return self.head(self.norm(tokens)).squeeze(-1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Mp (B, N) in [0, 1]."""
        return torch.sigmoid(self.logits(images) / self.temperature)


def create_generator(p: ModelParams, depth: int, img_size: int, temperature: float = 1.0) -> MaskGenerator:
    # num_classes is irrelevant: the classifier head is removed.
    return MaskGenerator(create_backbone(p, num_classes=1, img_size=img_size), depth, temperature)
