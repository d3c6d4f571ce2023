import numpy as np
import pytest

from mvt_fer.data import synthetic
from mvt_fer.params import SyntheticParams

P = SyntheticParams()


def test_same_seed_same_images_other_seed_other_images():
    a = synthetic.generate_split(3, "train", 20, 32, P)
    b = synthetic.generate_split(3, "train", 20, 32, P)
    c = synthetic.generate_split(4, "train", 20, 32, P)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.face, b.face)
    assert np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)


def test_splits_differ_and_images_do_not_depend_on_split_size():
    train = synthetic.generate_split(0, "train", 14, 32, P)
    test = synthetic.generate_split(0, "test", 14, 32, P)
    assert not np.array_equal(train.images, test.images)
    longer = synthetic.generate_split(0, "train", 28, 32, P)
    same = [i for i in range(14) if train.labels[i] == longer.labels[i]]
    # an image is a function of (seed, split, index, label) alone
    for i in same:
        assert np.array_equal(train.images[i], longer.images[i])


@pytest.mark.parametrize("n", [7, 50, 701])
def test_classes_balanced(n):
    labels = synthetic.generate_split(1, "val", n, 16, P).labels if n < 100 else None
    if labels is None:  # rendering 701 images is slow; the balancing rule is the same
        labels = np.arange(n) % len(synthetic.CLASSES)
    counts = np.bincount(labels, minlength=len(synthetic.CLASSES))
    assert counts.max() - counts.min() <= 1


def test_face_truth_is_the_drawn_face():
    # No blur, noise, yaw shading or distractors: inside the truth the face is one skin colour
    # (plus dark features); just outside it that colour is (almost) absent.
    p = SyntheticParams(blur=0.0, noise=0.0, max_yaw=0.0, distractors=0, occlusion_rate=0.5)
    import cv2

    for i in range(12):
        rng = np.random.default_rng([7, i])
        image, face, yaw, occluded = synthetic.render(rng, i % 7, 64, p)
        inner = cv2.erode(face, np.ones((3, 3), np.uint8)).astype(bool)
        ring = cv2.dilate(face, np.ones((5, 5), np.uint8)).astype(bool) & ~cv2.dilate(
            face, np.ones((3, 3), np.uint8)
        ).astype(bool)
        colours, counts = np.unique(image[inner].reshape(-1, 3), axis=0, return_counts=True)
        skin = colours[counts.argmax()]
        assert counts.max() / inner.sum() > 0.5, i
        near_skin = np.abs(image.astype(int) - skin).sum(-1) <= 6
        assert near_skin[ring].mean() < 0.1, i
        assert 0.15 < face.mean() < 0.6


def test_flags_follow_the_draw():
    s = synthetic.generate_split(2, "test", 140, 24, SyntheticParams(occlusion_rate=0.5, max_yaw=60))
    assert 0.3 < s.occluded.mean() < 0.7
    assert np.abs(s.yaw).max() <= 60
    assert 0.3 < (np.abs(s.yaw) > 30).mean() < 0.7
    none = synthetic.generate_split(2, "test", 30, 24, SyntheticParams(occlusion_rate=0.0, max_yaw=0.0))
    assert not none.occluded.any() and (none.yaw == 0).all()


def test_cue_spread_controls_overlap():
    rng = np.random.default_rng(0)
    tight = np.array([synthetic.sample_cues(rng, 1, 0.0) for _ in range(5)])
    assert np.allclose(tight, synthetic.PROTOTYPES[1])
    wide = np.array([synthetic.sample_cues(rng, 1, 1.0) for _ in range(200)])
    assert wide.std(0).min() > 0.05


def test_a_decoy_hides_the_mouth_or_the_eyes_and_prints_another_feature_there():
    # Every face occluded by a decoy: the face truth has a hole where the mouth or the eyes are, and the patch
    # over it is printed with a feature in ink, not plain.
    p = SyntheticParams(
        blur=0.0,
        noise=0.0,
        max_yaw=0.0,
        max_roll=0.0,
        max_shift=0.0,
        scale_jitter=0.0,
        distractors=0,
        occlusion_rate=1.0,
        decoy_rate=1.0,
    )
    size = 64
    radius = size * 0.38
    mouth, eyes = (int(size / 2 + v * radius) for v in (0.55, -0.15))
    for i in range(12):
        image, face, _, occluded = synthetic.render(np.random.default_rng([5, i]), i % 7, size, p)
        assert occluded
        hidden = [row for row in (mouth, eyes) if not face[row, size // 2 - 3 : size // 2 + 4].any()]
        assert len(hidden) == 1, i  # one of the two, whole across the face's middle
        band = slice(hidden[0] - 6, hidden[0] + 7)
        patch = image[band, size // 2 - 10 : size // 2 + 11].reshape(-1, 3).astype(int)
        colours, counts = np.unique(patch, axis=0, return_counts=True)
        fill = colours[counts.argmax()]
        assert np.abs(patch - fill).max() > 40, i  # a feature printed on the patch's colour, not a plain patch


def test_a_decoy_prints_any_class_but_the_faces_own_equally_often():
    rng = np.random.default_rng(0)
    for label in range(len(synthetic.CLASSES)):
        drawn = np.bincount([synthetic.decoy_class(rng, label) for _ in range(1200)], minlength=7)
        assert drawn[label] == 0
        others = np.delete(drawn, label)
        assert others.min() > 150 and others.max() < 250  # 200 expected each
