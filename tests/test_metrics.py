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
    out = M.summarize(
        y_true, y_pred, ["a", "b"], {"occluded": np.array([1, 1, 0, 0], bool), "pose_gt30": np.zeros(4, bool)}
    )
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
    binary = np.zeros((2, 4))
    binary[:, 0] = 1
    assert M.mask_hardness(binary) == 1.0
    assert M.mask_hardness(np.full((2, 4), 0.15)) == 0.0  # dims every patch by m: the degenerate G
    # within 0.1 of 0 or 1 counts; float16 as the masks store holds them
    assert M.mask_hardness(np.array([[0.95, 0.05, 0.5, 0.0, 0.85, 0.2, 0.3, 1.0]], np.float16)) == 0.5


def test_mask_specificity_is_zero_for_one_mask_for_all_and_about_one_for_random():
    one = np.zeros((50, 36))
    one[:, :5] = 1
    assert M.mask_specificity(one) == 0.0
    rng = np.random.default_rng(0)
    random = (rng.random((500, 36)).argsort(1) < 5).astype(float)
    assert M.mask_specificity(random) == pytest.approx(1.0, abs=0.05)


def test_bootstrap_intervals_match_a_plain_loop_and_cover_the_estimate():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 3, 300))
    ci = M.bootstrap_ci(y_true, y_pred, 3, resamples=200, seed=5)
    # The same resamples, one at a time, through the plain metrics.
    idx = np.random.default_rng(5).integers(0, 300, size=(200, 300))
    accs = [M.accuracy(M.confusion_matrix(y_true[i], y_pred[i], 3)) for i in idx]
    mcas = [M.mean_class_accuracy(M.confusion_matrix(y_true[i], y_pred[i], 3)) for i in idx]
    assert ci["accuracy"] == pytest.approx(list(np.percentile(accs, [2.5, 97.5])), abs=1e-6)
    assert ci["mean_class_accuracy"] == pytest.approx(list(np.percentile(mcas, [2.5, 97.5])), abs=1e-6)
    acc = (y_true == y_pred).mean()
    assert ci["accuracy"][0] < acc < ci["accuracy"][1] and ci["accuracy"][1] - ci["accuracy"][0] < 0.15
    assert M.bootstrap_ci(y_true, y_pred, 3, 200, 5) == ci  # seeded


def test_summarize_adds_intervals_only_when_asked():
    y = np.array([0, 1, 1, 0])
    assert "ci95" not in M.summarize(y, y, ["a", "b"], {})
    assert M.summarize(y, y, ["a", "b"], {}, bootstrap=50)["ci95"]["accuracy"] == [1.0, 1.0]
