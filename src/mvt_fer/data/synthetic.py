"""The built-in synthetic in-the-wild expression dataset.

Each image is a parametric face whose expression lives only in the brows, eyes and mouth, drawn over a
cluttered background that holds face-part-like distractors (loose brows, eyes and mouths with random
expressions of their own), at a random yaw, roll, scale and shift, sometimes behind an occluder, then
blurred and noised. The class prototypes overlap by `cue_noise`, so no classifier reaches 100%.

The generator knows which pixels are face and which are background or occluder, and returns that truth
with every image, so the quality of a mask can be measured (what share of the erased area is off the face).

Every image is drawn from its own RNG, seeded by (seed, split, index): the dataset is a pure function of
its params, and any image can be regenerated alone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ..params import SyntheticParams
from .rows import Rows

CLASSES = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger")
SPLITS = ("train", "val", "test")

# Expression cues, one row per class in CLASSES order:
# brow raise, brow tilt (inner ends up > 0), eye opening, mouth curve (smile > 0), mouth opening,
# mouth width, mouth asymmetry (one corner raised).
_CUES = ("brow_raise", "brow_tilt", "eye_open", "mouth_curve", "mouth_open", "mouth_width", "mouth_asym")
PROTOTYPES = np.array(
    [
        [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0],  # neutral
        [0.1, 0.0, 0.7, 1.0, 0.35, 1.3, 0.0],  # happiness
        [-0.1, 0.9, 0.8, -0.8, 0.0, 0.9, 0.0],  # sadness
        [1.0, 0.1, 1.5, 0.0, 1.0, 0.7, 0.0],  # surprise
        [0.7, 0.8, 1.4, -0.3, 0.5, 1.2, 0.0],  # fear
        [-0.4, -0.4, 0.6, -0.4, 0.1, 1.0, 0.8],  # disgust
        [-0.6, -1.0, 0.7, -0.3, 0.15, 0.9, 0.0],  # anger
    ],
    dtype=np.float64,
)
# Per-cue spread at cue_noise = 1, in the cue's own units.
_CUE_SCALE = np.array([0.35, 0.45, 0.3, 0.45, 0.3, 0.2, 0.4])
_CUE_LOW = np.array([-1.5, -1.5, 0.25, -1.5, 0.0, 0.5, -1.5])
_CUE_HIGH = np.array([1.5, 1.5, 1.8, 1.5, 1.3, 1.6, 1.5])

_SUPERSAMPLE = 2  # draw at 2x and area-downsample: cheap antialiasing for thin strokes


@dataclass(frozen=True)
class SyntheticSplit:
    images: np.ndarray  # (N, H, W, 3) uint8
    face: np.ndarray  # (N, H, W) uint8, 1 where the pixel shows the face (not background, not occluder)
    labels: np.ndarray  # (N,) int64
    yaw: np.ndarray  # (N,) float32, degrees
    occluded: np.ndarray  # (N,) bool


def sample_cues(rng: np.random.Generator, label: int, cue_noise: float) -> np.ndarray:
    """Expression cues for one face: the class prototype plus Gaussian spread, clipped to drawable range."""
    cues = PROTOTYPES[label] + rng.normal(0.0, 1.0, len(_CUES)) * _CUE_SCALE * cue_noise
    return np.clip(cues, _CUE_LOW, _CUE_HIGH)


def _to_px(points: np.ndarray) -> np.ndarray:
    # cv2 draws with fixed-point sub-pixel coordinates; 4 fractional bits.
    return np.round(points * 16).astype(np.int32)


def _face_point(u, v, center, radius, yaw, roll) -> np.ndarray:
    """Canvas coordinates (..., 2) of face-local points (u, v), which run from -1 to 1 across the face: yaw
    slides them towards the side the head turns to, roll rotates them about the face centre."""
    s_yaw, c_yaw = np.sin(np.radians(yaw)), np.cos(np.radians(yaw))
    c_roll, s_roll = np.cos(np.radians(roll)), np.sin(np.radians(roll))
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    u = u * c_yaw + s_yaw * 0.15  # features slide towards the turn
    x, y = u * radius, v * radius
    return np.stack([center[0] + c_roll * x - s_roll * y, center[1] + s_roll * x + c_roll * y], -1)


def _draw_features(canvas, cues, center, radius, yaw, roll, *, color, brows=True, eyes=True, mouth=True):
    """Brows, eyes and mouth of one face (or of a distractor) in face-local coordinates.

    Local coordinates run from -1 to 1 across the face; yaw moves the features towards the side the head
    turns to and narrows the far side, roll rotates everything about the face centre.
    """
    brow_raise, brow_tilt, eye_open, mouth_curve, mouth_open, mouth_width, mouth_asym = cues
    s_yaw, c_yaw = np.sin(np.radians(yaw)), np.cos(np.radians(yaw))

    def place(u, v):
        return _face_point(u, v, center, radius, yaw, roll)

    thick = max(1, int(round(radius * 0.13)))
    for side in (-1.0, 1.0):
        far = 1.0 - 0.45 * max(0.0, -side * s_yaw)  # the far eye looks narrower
        if brows:
            inner, outer = side * 0.12, side * 0.62
            v0 = -0.4 - 0.24 * brow_raise
            pts = place([inner, outer], [v0 - 0.22 * brow_tilt, v0 + 0.08 * brow_tilt])
            cv2.polylines(canvas, [_to_px(pts)], False, color, thick, cv2.LINE_AA, shift=4)
        if eyes:
            eye_c = place(side * 0.38, -0.15)
            axes = (radius * 0.2 * far * c_yaw + 1, radius * 0.11 * eye_open + 0.5)
            cv2.ellipse(canvas, _to_px(eye_c), _to_px(np.array(axes)), roll, 0, 360, color, -1, cv2.LINE_AA, shift=4)
    if mouth:
        half = 0.32 * mouth_width
        u = np.linspace(-half, half, 13)
        # A parabola through the corners: smile bends the corners up (v decreases), frown down.
        v = 0.5 - 0.34 * mouth_curve * (u / half) ** 2 + 0.17 * mouth_curve
        v = v - 0.2 * mouth_asym * np.clip(u / half, 0, 1)
        if mouth_open > 0.15:
            upper = place(u, v - 0.02)
            lower = place(u[::-1], (v + 0.34 * mouth_open * (1 - (u / half) ** 2))[::-1])
            cv2.fillPoly(canvas, [_to_px(np.concatenate([upper, lower]))], color, cv2.LINE_AA, shift=4)
        cv2.polylines(canvas, [_to_px(place(u, v))], False, color, thick, cv2.LINE_AA, shift=4)


def _background(rng: np.random.Generator, size: int, p: SyntheticParams) -> np.ndarray:
    """A cluttered scene: a colour gradient, random blobs and bars, and face-part-like distractors."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    c0, c1 = rng.uniform(30, 220, 3), rng.uniform(30, 220, 3)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * xx + np.sin(angle) * yy)[..., None]
    canvas = np.ascontiguousarray((c0 * (1 - t) + c1 * t).clip(0, 255).astype(np.uint8))
    for _ in range(rng.integers(2, 7)):
        color = tuple(float(c) for c in rng.uniform(0, 255, 3))
        center = rng.uniform(0, size, 2)
        if rng.random() < 0.5:
            axes = rng.uniform(0.05, 0.3, 2) * size
            cv2.ellipse(
                canvas, _to_px(center), _to_px(axes), rng.uniform(0, 180), 0, 360, color, -1, cv2.LINE_AA, shift=4
            )
        else:
            half = rng.uniform(0.03, 0.25, 2) * size
            box = cv2.boxPoints((tuple(center), tuple(2 * half), rng.uniform(0, 180)))
            cv2.fillPoly(canvas, [_to_px(box)], color, cv2.LINE_AA, shift=4)
    # Distractors: loose face parts with the cues of a random class, so that a model reading the
    # background is misled and a mask that hides the background helps.
    for _ in range(rng.integers(0, p.distractors + 1)):
        cues = sample_cues(rng, int(rng.integers(len(CLASSES))), p.cue_noise)
        part = rng.integers(3)
        _draw_features(
            canvas,
            cues,
            center=rng.uniform(0.1, 0.9, 2) * size,
            radius=rng.uniform(0.15, 0.3) * size,
            yaw=0.0,
            roll=rng.uniform(-30, 30),
            color=tuple(float(c) for c in rng.uniform(0, 90, 3)),
            brows=part == 0,
            eyes=part == 1,
            mouth=part == 2,
        )
    return canvas


def _occluder(rng: np.random.Generator, size: int, center, radius) -> np.ndarray:
    """A polygon over part of the face (a hand, a bar, a scarf): its mask at canvas resolution."""
    mask = np.zeros((size, size), np.uint8)
    kind = rng.integers(3)
    if kind == 0:  # a bar across the eyes or the mouth (sunglasses, scarf)
        v = rng.choice([-0.15, 0.5]) * radius
        half = (radius * rng.uniform(0.9, 1.3), radius * rng.uniform(0.18, 0.32))
        box = cv2.boxPoints(((center[0], center[1] + v), (2 * half[0], 2 * half[1]), rng.uniform(-15, 15)))
        cv2.fillPoly(mask, [_to_px(box)], 1, cv2.LINE_8, shift=4)
    elif kind == 1:  # a blob from one side (a hand, a cup)
        side = rng.choice([-1.0, 1.0])
        c = np.array(center) + np.array([side * radius * rng.uniform(0.5, 0.9), radius * rng.uniform(-0.5, 0.6)])
        axes = radius * np.array([rng.uniform(0.4, 0.7), rng.uniform(0.5, 0.9)])
        cv2.ellipse(mask, _to_px(c), _to_px(axes), rng.uniform(0, 180), 0, 360, 1, -1, cv2.LINE_8, shift=4)
    else:  # a random polygon
        angles = np.sort(rng.uniform(0, 2 * np.pi, 6))
        r = radius * rng.uniform(0.3, 0.7, 6)
        c = np.array(center) + rng.uniform(-0.6, 0.6, 2) * radius
        pts = np.stack([c[0] + r * np.cos(angles), c[1] + r * np.sin(angles)], -1)
        cv2.fillPoly(mask, [_to_px(pts)], 1, cv2.LINE_8, shift=4)
    return mask


def decoy_class(rng: np.random.Generator, label: int) -> int:
    """The class a decoy prints: any other than the face's, all equally likely (so, seen alone, a decoy says
    which class the face is not, and nothing more)."""
    return (label + int(rng.integers(1, len(CLASSES)))) % len(CLASSES)


def _decoy(
    rng: np.random.Generator, canvas, label: int, *, skin, size: int, center, radius, yaw, roll, p: SyntheticParams
):
    """A patch over the mouth or the eyes, printed with that feature of another class, drawn where the face's
    own would be: its mask at canvas resolution. The face's own feature under it is hidden."""
    mouth = rng.random() < 0.5
    # Wide and tall enough to cover whole patches at the print's place, whatever the patch grid.
    v, half = (0.62, (0.62, 0.45)) if mouth else (-0.3, (0.8, 0.45))
    c = _face_point(0.0, v, center, radius, yaw, roll)
    scale = rng.uniform(1.0, 1.15, 2)
    mask = np.zeros((size, size), np.uint8)
    box = cv2.boxPoints((tuple(c), tuple(2 * radius * np.array(half) * scale), roll + rng.uniform(-8, 8)))
    cv2.fillPoly(mask, [_to_px(box)], 1, cv2.LINE_8, shift=4)
    # In skin tones: the print looks like a face's own feature, and only the patch's straight edges, which
    # stand out of the face's outline, give it away.
    color = (skin * rng.uniform(0.85, 1.15, 3)).clip(0, 255)
    printed = np.full_like(canvas, color.astype(np.uint8))
    other = decoy_class(rng, label)
    ink = tuple(float(k) for k in rng.uniform(10, 70, 3))
    _draw_features(
        printed,
        sample_cues(rng, other, p.cue_noise),
        center,
        radius,
        yaw,
        roll,
        color=ink,
        brows=not mouth,
        eyes=not mouth,
        mouth=mouth,
    )
    canvas[:] = np.where(mask[..., None] == 1, printed, canvas)
    return mask


def render(rng: np.random.Generator, label: int, image_size: int, p: SyntheticParams):
    """One image of class `label`: returns (image uint8 HxWx3, face truth uint8 HxW, yaw, occluded)."""
    size = image_size * _SUPERSAMPLE
    canvas = _background(rng, size, p)
    cues = sample_cues(rng, label, p.cue_noise)
    yaw = rng.uniform(-p.max_yaw, p.max_yaw)
    roll = rng.uniform(-p.max_roll, p.max_roll)
    radius = size * 0.38 * (1 + rng.uniform(-p.scale_jitter, p.scale_jitter))
    center = size / 2 + rng.uniform(-p.max_shift, p.max_shift, 2) * size
    # The head outline narrows a little as it turns; its features slide more (see _draw_features).
    axes = np.array([radius * (0.72 + 0.13 * np.cos(np.radians(yaw))), radius * 0.98])

    face = np.zeros((size, size), np.uint8)
    cv2.ellipse(face, _to_px(center), _to_px(axes), roll, 0, 360, 1, -1, cv2.LINE_8, shift=4)
    skin = rng.uniform([120, 90, 60], [250, 220, 200])  # BGR-agnostic warm tones
    shade = np.clip(1.0 - 0.25 * np.sin(np.radians(yaw)) * np.linspace(-1, 1, size)[None, :], 0.6, 1.2)
    face_rgb = (skin[None, None, :] * shade[..., None]).clip(0, 255).astype(np.uint8)
    canvas = np.where(face[..., None] == 1, face_rgb, canvas)
    ink = tuple(float(c) for c in rng.uniform(10, 70, 3))
    _draw_features(canvas, cues, center, radius, yaw, roll, color=ink)

    occluded = rng.random() < p.occlusion_rate
    if occluded and p.decoy_rate > 0 and rng.random() < p.decoy_rate:
        face = face & (
            1 - _decoy(rng, canvas, label, skin=skin, size=size, center=center, radius=radius, yaw=yaw, roll=roll, p=p)
        )
    elif occluded:
        occ = _occluder(rng, size, center, radius)
        occ_color = rng.uniform(0, 255, 3).astype(np.uint8)
        texture = rng.normal(0, 12, (size, size, 1))
        occ_rgb = (occ_color[None, None, :] + texture).clip(0, 255).astype(np.uint8)
        canvas = np.where(occ[..., None] == 1, occ_rgb, canvas)
        face = face & (1 - occ)

    image = cv2.resize(canvas, (image_size, image_size), interpolation=cv2.INTER_AREA)
    truth = cv2.resize(face.astype(np.float32), (image_size, image_size), interpolation=cv2.INTER_AREA) > 0.5
    sigma = rng.uniform(0, p.blur)
    if sigma > 0.05:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    noise_std = rng.uniform(0, p.noise) * 255
    image = (image + rng.normal(0, noise_std, image.shape)).clip(0, 255).astype(np.uint8)
    return image, truth.astype(np.uint8), float(yaw), bool(occluded)


def split_labels(seed: int, split: str, n: int) -> np.ndarray:
    """The labels of a split of `n` images: classes balanced (counts differ by at most one), order shuffled."""
    labels = np.arange(n) % len(CLASSES)
    np.random.default_rng([seed, SPLITS.index(split)]).shuffle(labels)
    return labels.astype(np.int64)


def render_row(item: tuple[int, str, int, int], image_size: int, p: SyntheticParams) -> dict:
    """Image `i` of a split, item (seed, split, i, label), as the prepared store keeps it: the image, its face
    truth, and its index columns (yaw in degrees, rounded, and the occluded / pose subsets)."""
    seed, split, i, label = item
    image, face, yaw, occluded = render(np.random.default_rng([seed, SPLITS.index(split), i]), label, image_size, p)
    yaw = np.float32(yaw)
    return {
        "image": image,
        "face": face,
        "yaw": np.round(yaw, 3),
        "occluded": occluded,
        "pose_gt30": bool(abs(yaw) > 30),
        "pose_gt45": bool(abs(yaw) > 45),
    }


def plan_split(seed: int, split: str, n: int, image_size: int, p: SyntheticParams) -> Rows:
    """A split of `n` images, planned for the store: each image is rendered from its own generator."""
    labels = split_labels(seed, split, n)
    items = [(seed, split, i, int(label)) for i, label in enumerate(labels)]
    sources = [f"synthetic/{split}/{i:06d}" for i in range(n)]
    return Rows(split, functools.partial(render_row, image_size=image_size, p=p), items, labels, sources)


def generate_split(seed: int, split: str, n: int, image_size: int, p: SyntheticParams) -> SyntheticSplit:
    """`n` images of one split in memory (benchmarks, tests), the images `plan_split` plans."""
    labels = split_labels(seed, split, n)
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    face = np.empty((n, image_size, image_size), np.uint8)
    yaw = np.empty(n, np.float32)
    occluded = np.empty(n, bool)
    for i in range(n):
        rng = np.random.default_rng([seed, SPLITS.index(split), i])
        images[i], face[i], yaw[i], occluded[i] = render(rng, int(labels[i]), image_size, p)
    return SyntheticSplit(images, face, labels, yaw, occluded)
