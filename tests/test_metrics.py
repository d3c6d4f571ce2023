import numpy as np
import pytest

from mvt_fer import metrics as M


def test_against_hand_computed_confusion_matrix():
    # 3 classes; class 2 has 1 sample, predicted as 0.
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 0, 0])
    cm = M.confusion_matrix(y_true, y_pred, 3)
    assert cm.tolist() == [[3, 1, 0], [1, 2, 0], [1, 0, 0]]
    assert M.accuracy(cm) == pytest.approx(5 / 8)
    assert M.per_class_accuracy(cm).tolist() == pytest.approx([3 / 4, 2 / 3, 0.0])
    assert M.mean_class_accuracy(cm) == pytest.approx((3 / 4 + 2 / 3 + 0) / 3)


def test_absent_class_is_left_out_of_mean_class_accuracy():
    cm = M.confusion_matrix(np.array([0, 0, 1]), np.array([0, 1, 1]), 3)
    assert np.isnan(M.per_class_accuracy(cm)[2])
    assert M.mean_class_accuracy(cm) == pytest.approx((0.5 + 1.0) / 2)


def test_summarize_subsets():
    y_true = np.array([0, 1, 1, 0])
    y_pred = np.array([0, 1, 0, 1])
    out = M.summarize(y_true, y_pred, ["a", "b"], {"occluded": np.array([1, 1, 0, 0], bool),
                                                  "pose_gt30": np.zeros(4, bool)})
    assert out["n"] == 4 and out["accuracy"] == 0.5
    assert out["per_class"] == {"a": 0.5, "b": 0.5}
    assert out["subsets"] == {"occluded": 1.0}  # an empty subset is not reported
    assert out["subset_n"] == {"occluded": 2}


def test_off_face_share():
    face = np.zeros((1, 2, 2))
    face[0, 0, 0] = 1  # one face pixel
    erased = np.array([[[1.0, 1.0], [0.0, 0.0]]])  # erases the face pixel and one background pixel
    assert M.off_face_share(erased, face) == pytest.approx(0.5)
    assert M.off_face_share(erased * 0.3, face) == pytest.approx(0.5)  # soft masks weigh by mass
    assert np.isnan(M.off_face_share(np.zeros((1, 2, 2)), face))


def test_mask_hardness_separates_binary_masks_from_dimming():
    binary = np.zeros((2, 4)); binary[:, 0] = 1
    assert M.mask_hardness(binary) == 1.0
    assert M.mask_hardness(np.full((2, 4), 0.25)) == 0.0
    assert M.mask_hardness(np.array([[0.6, 0.2, 0.2, 0.0]])) == pytest.approx(0.6)


def test_mask_specificity_is_zero_for_one_mask_for_all_and_about_one_for_random():
    one = np.zeros((50, 36)); one[:, :5] = 1
    assert M.mask_specificity(one) == 0.0
    rng = np.random.default_rng(0)
    random = (rng.random((500, 36)).argsort(1) < 5).astype(float)
    assert M.mask_specificity(random) == pytest.approx(1.0, abs=0.05)
