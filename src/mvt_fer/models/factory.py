"""timm builders: every network of the method is a timm ViT chosen by name, with small-run overrides."""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from timm.layers import PatchEmbed
from timm.models.vision_transformer_hybrid import ConvStem
from torch import nn

from ..errors import UserError
from ..masking import apply_mask
from ..params import ModelParams


class ConvPatchEmbed(PatchEmbed):
    """timm's PatchEmbed with an early-convolution stem (Xiao et al., 2021) as its projection: one 3x3
    stride-2 convolution with BatchNorm and ReLU per halving of the patch side, widening to the token width,
    then a 1x1 convolution (timm's ConvStem). It ends on the patch grid, so a token still belongs to one
    patch: G's masks, `up()`, the masks stage and ONNX export work as with the single projection.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        side, width = self.patch_size[0], self.proj.out_channels
        halvings = side.bit_length() - 1
        if side != self.patch_size[1] or side != 2**halvings or halvings == 0:
            raise UserError(
                f"model.patch_size: {side} with model.stem: conv; the conv stem needs a power of two "
                "of 2 or more (or use model.stem: patch)"
            )
        channels = tuple(max(width // 2 ** (halvings - 1 - i), 8) for i in range(halvings)) + (width,)
        self.proj = ConvStem(
            self.proj.in_channels,
            depth=halvings + 1,
            channels=channels,
            kernel_size=(3,) * halvings + (1,),
            stride=(2,) * halvings + (1,),
        )


def create_backbone(p: ModelParams, num_classes: int, img_size: int) -> nn.Module:
    """`timm.create_model(p.name, ...)` with the overrides of `p` and the prepared image size.

    `p.pretrained`: none, timm (timm's hub, online), or a local .pth / .safetensors file. Pretrained weights
    go through timm's own loader, which resamples the position embedding (and the patch embedding) to
    the configured image and patch size and drops a classifier head of another class count.
    """
    # The stored images' size wins over model.img_size (params.py makes the two equal where both are set).
    kwargs = {**p.timm_kwargs(), "img_size": img_size, "num_classes": num_classes, "drop_path_rate": p.drop_path_rate}
    if p.stem == "conv":
        kwargs["embed_layer"] = ConvPatchEmbed
    if p.pretrained not in ("none", "timm"):
        path = Path(p.pretrained)
        if not path.is_file():
            raise UserError(f"model.pretrained: {path} does not exist (give a .pth or .safetensors file, timm or none)")
        kwargs["pretrained_cfg_overlay"] = {"file": str(path.resolve())}
    try:
        model = timm.create_model(p.name, pretrained=p.pretrained != "none", **kwargs)
    except RuntimeError as err:
        if "Unknown model" in str(err):
            raise UserError(f"model.name: timm has no model {p.name!r}") from None
        if p.pretrained == "none":
            raise
        if any(k in str(err) for k in ("size mismatch", "Missing key", "Unexpected key")):
            raise UserError(
                f"model.pretrained: the weights in {p.pretrained} do not fit {p.name} with these "
                f"overrides ({_first_line(err)})"
            ) from None
        if p.pretrained == "timm":
            raise UserError(
                f"model.pretrained: could not fetch timm's weights for {p.name} ({_first_line(err)}); "
                "offline, download them once and set model.pretrained to the file"
            ) from None
        raise UserError(f"model.pretrained: {p.pretrained} cannot be read as weights ({_first_line(err)})") from None
    except TypeError as err:  # a non-ViT model that takes no patch_size / depth / ... overrides
        raise UserError(f"model: {p.name!r} does not accept these overrides ({err})") from None
    except Exception as err:  # noqa: BLE001 - the hub client and the file readers raise many kinds
        if p.pretrained == "none":
            raise
        if p.pretrained != "timm":
            raise UserError(
                f"model.pretrained: {p.pretrained} cannot be read as weights ({type(err).__name__}: {_first_line(err)})"
            ) from None
        raise UserError(
            f"model.pretrained: could not fetch timm's weights for {p.name} ({type(err).__name__}: "
            f"{_first_line(err)}); offline, download them once and set model.pretrained to the file"
        ) from None
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    if patch is None:
        raise UserError(f"model.name: {p.name!r} is not a patch-based vision transformer")
    if img_size % patch[0]:
        raise UserError(f"model.patch_size: {patch[0]} does not divide the image size {img_size}")
    return model


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [""])[0][:200]


class Normalize(nn.Module):
    """(x - mean) / std with the backbone's own statistics (ImageNet's for DeiT), as buffers."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        cfg = backbone.pretrained_cfg
        self.register_buffer("mean", torch.tensor(cfg.get("mean", (0.5, 0.5, 0.5))).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(cfg.get("std", (0.5, 0.5, 0.5))).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std


class MaskedClassifier(nn.Module):
    """The MVT classifier: images in [0, 1], an optional keep-mask, then normalisation and the ViT.

    Taking raw [0, 1] images makes a masked pixel black, as in the paper's Fig. 2, and keeps the
    normalisation inside the model, so whoever applies it (evaluate, predict, an ONNX runtime) feeds
    plain images.
    """

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.normalize = Normalize(backbone)
        self.backbone = backbone

    @property
    def patch_size(self) -> int:
        return self.backbone.patch_embed.patch_size[0]

    def forward(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for images (B, 3, H, W) in [0, 1]; `keep` per patch (B, h, w) or per pixel (B, H, W)."""
        if keep is not None:
            images = apply_mask(images, keep, self.patch_size)
        return self.backbone(self.normalize(images))


def create_classifier(p: ModelParams, num_classes: int, img_size: int) -> MaskedClassifier:
    return MaskedClassifier(create_backbone(p, num_classes, img_size))
