"""What a mask is (paper Sec. 3.1): `up()`, applying patch or pixel masks, D's views, random and oracle masks,
what G is trained for (`MaskSpec`) and how its output is read into the classifier's keep-mask (`MaskReading`).

Pure array functions: numpy in the data pipeline, torch in the models, the same semantics in both.
A mask value is the share of a pixel that stays visible (1 = keep, 0 = erase to black). Storing masks is
data/mask_store.py; running G over images is engine/inference.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from .params import Estimator, View

if TYPE_CHECKING:
    from .params import Params


def up(patch_mask, patch_size: int):
    """Copy each patch value to its P x P pixels (the paper's Mp -> Mf, Sec. 3.1).

    `patch_mask` has shape (..., h, w), numpy or torch; the result has shape (..., h*P, w*P), with
    pixel (y, x) taking the value of patch (y // P, x // P). Channels broadcast, so no copy over C.
    """
    if isinstance(patch_mask, np.ndarray):
        return np.repeat(np.repeat(patch_mask, patch_size, axis=-2), patch_size, axis=-1)
    return patch_mask.repeat_interleave(patch_size, dim=-2).repeat_interleave(patch_size, dim=-1)


def as_grid(patch_mask: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, N) per-token values -> (B, h, w), in timm's row-major patch order."""
    return patch_mask.reshape(patch_mask.shape[0], *grid)


def apply_mask(images: torch.Tensor, keep: torch.Tensor, patch_size: int) -> torch.Tensor:
    """`images ⊙ up(keep)` for images (B, C, H, W).

    `keep` is either per patch, (B, h, w), or already per pixel, (B, H, W) or (B, 1, H, W) (the form a
    mask takes after geometric augmentation).
    """
    if keep.dim() == 4:
        keep = keep[:, 0]
    if keep.shape[-2:] != images.shape[-2:]:
        keep = up(keep, patch_size)
    return images * keep.unsqueeze(1).to(images.dtype)


VIEWS = ("show", "hide")


def random_patch_mask(
    batch: int,
    num_patches: int,
    ratio: float,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """R: a random binary patch mask with exactly round(ratio * N) ones per image: (B, N) float."""
    k = int(round(ratio * num_patches))
    order = torch.rand(batch, num_patches, generator=generator).argsort(dim=-1).to(device)
    return (order < k).float()


def oracle_patch_mask(face: np.ndarray, patch_size: int, ratio: float) -> np.ndarray:
    """The best mask of its area for the classifier: 1 on the round(ratio * N) patches of each image that
    hold the least face (face truth (N, H, W), 1 on face pixels), 0 elsewhere: (N, h, w) float32.

    Ties (most often among patches with no face at all) go to the patch nearest the face's centre: a patch
    without face there is an occluder over the face, which can mislead; one far off is background. Equal
    distances go to the earlier patch in row-major order."""
    n, height, width = face.shape
    h, w = height // patch_size, width // patch_size
    share = np.asarray(face, np.float32).reshape(n, h, patch_size, w, patch_size).mean(axis=(2, 4)).reshape(n, -1)
    # Each image's face centre: the share-weighted mean patch position (equal weights, the grid centre, if
    # there is no face).
    rows, cols = (g.ravel().astype(np.float32) for g in np.mgrid[0:h, 0:w])
    weight = np.where(share.sum(1, keepdims=True) > 0, share, 1.0)
    centre = [(weight * g).sum(1, keepdims=True) / weight.sum(1, keepdims=True) for g in (rows, cols)]
    distance = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2
    k = int(round(ratio * h * w))
    order = np.lexsort((distance, share), axis=-1)  # by share, then by distance; lexsort is stable
    out = np.zeros_like(share)
    np.put_along_axis(out, order[:, :k], 1.0, axis=1)
    return out.reshape(n, h, w)


def discriminator_view(
    images: torch.Tensor, mask: torch.Tensor, view: View, patch_size: int, grid: tuple[int, int]
) -> torch.Tensor:
    """v(x, M) for D (docs/design.md, "Mask semantics"): `show` keeps what M marks, x ⊙ up(M);
    `hide` erases it, x ⊙ up(1 - M). M is (B, N) in [0, 1], from G or random."""
    keep = mask if view == "show" else 1 - mask
    return apply_mask(images, as_grid(keep, grid), patch_size)


def top_k_mask(mp: torch.Tensor, k: int) -> torch.Tensor:
    """1 on the k patches of highest Mp per image, 0 elsewhere: (B, N)."""
    hard = torch.zeros_like(mp)
    if k:
        hard.scatter_(-1, mp.topk(k, dim=-1).indices, 1.0)
    return hard


def straight_through_top_k(mp: torch.Tensor, k: int) -> torch.Tensor:
    """The top-k mask in the forward pass, the gradient of Mp in the backward pass.

    Lets G choose exactly which k patches a view shows or hides, where a soft Mp could instead dim the
    whole image uniformly (a degenerate generator that Eq. 2 alone does not rule out).
    """
    return top_k_mask(mp.detach(), k) + mp - mp.detach()


def sample_mask(mp: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A binary mask M ~ Bernoulli(Mp), drawn on the CPU generator so the stream does not depend on the device."""
    u = torch.rand(mp.shape, generator=generator).to(mp.device)
    return (u < mp.detach()).to(mp.dtype)


def bernoulli_log_prob(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log P(mask | sigmoid(logits)), summed over the last dim: (..., N) -> (...)."""
    return -F.binary_cross_entropy_with_logits(logits.float(), mask.float(), reduction="none").sum(-1)


def inference_keep(mp: torch.Tensor, view: View, mask_ratio: float, hard: bool = False) -> torch.Tensor:
    """The classifier's keep-mask (B, N) from G's Mp.

    `show`: Mp is unimportance; keep = 1 - Mp (the paper's complement), or with `hard` erase exactly the
    round(mask_ratio * N) patches of highest Mp.
    `hide`: Mp is importance; erase, per image, the round(mask_ratio * N) patches of lowest Mp.
    """
    k = int(round(mask_ratio * mp.shape[-1]))
    if view == "show":
        return 1 - top_k_mask(mp, k) if hard else 1 - mp
    return 1 - top_k_mask(-mp, k)


def keep_grid(mp: np.ndarray, view: View, mask_ratio: float, hard: bool = False) -> np.ndarray:
    """`inference_keep` for stored masks: Mp grids (N, h, w), any float dtype -> keep grids (N, h, w) float32."""
    n, h, w = mp.shape
    flat = torch.from_numpy(np.asarray(mp, dtype=np.float32)).reshape(n, h * w)
    return inference_keep(flat, view, mask_ratio, hard).reshape(n, h, w).numpy()


@dataclass(frozen=True)
class MaskReading:
    """How G's Mp becomes the classifier's keep-mask: G's view (`show`: Mp marks what to erase; `hide`: what
    to keep), m, and whether exactly round(m N) patches are erased (`hard`) or the soft complement is used.
    train_mgn saves it with G; the masks stage stores it beside the masks it writes."""

    view: View
    mask_ratio: float
    hard: bool

    def keep(self, mp: torch.Tensor) -> torch.Tensor:
        """Per-token keep-mask (B, N) from Mp (B, N)."""
        return inference_keep(mp, self.view, self.mask_ratio, self.hard)

    def keep_grid(self, mp: np.ndarray) -> np.ndarray:
        """Keep grids (N, h, w) float32 from stored Mp grids (N, h, w)."""
        return keep_grid(mp, self.view, self.mask_ratio, self.hard)

    def as_meta(self) -> dict:
        return asdict(self)

    @classmethod
    def from_meta(cls, meta: dict) -> MaskReading:
        return cls(meta["view"], meta["mask_ratio"], meta["hard"])


@dataclass(frozen=True)
class MaskSpec:
    """What G is trained for, as one value: its view (`show`: Mp marks what to erase; `hide`: what to keep;
    docs/design.md, "Mask semantics"), the mask ratio m of Eq. 2, and how D reads Mp (`mgn.estimator`)."""

    view: View
    ratio: float
    estimator: Estimator = "soft"

    @classmethod
    def of(cls, p: Params) -> MaskSpec:
        return cls(p.mgn.view, p.mask_ratio, p.mgn.estimator)

    @property
    def reading(self) -> MaskReading:
        """How inference reads this G's Mp: the soft complement for `soft` (the paper), exactly round(m N)
        patches for the estimators that trained G on hard masks."""
        return MaskReading(self.view, self.ratio, hard=self.estimator != "soft")
