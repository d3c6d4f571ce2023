"""Classification metrics from a confusion matrix: pure numpy, no I/O."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """cm[t, p] = number of samples of true class t predicted as p."""
    return np.bincount(
        np.asarray(y_true) * num_classes + np.asarray(y_pred), minlength=num_classes * num_classes
    ).reshape(num_classes, num_classes)


def accuracy(cm: np.ndarray) -> float:
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall of each class; NaN for a class with no samples."""
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def mean_class_accuracy(cm: np.ndarray) -> float:
    """Mean of the per-class accuracies over the classes present (AffectNet's metric)."""
    acc = per_class_accuracy(cm)
    return float(np.nanmean(acc)) if np.isfinite(acc).any() else float("nan")


def bootstrap_ci(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, resamples: int, seed: int, level: float = 0.95
) -> dict[str, list[float]]:
    """Percentile bootstrap confidence intervals of accuracy and mean-class accuracy: the test set
    resampled with replacement `resamples` times (seeded), all resamples at once."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = len(y_true)
    rng = np.random.default_rng(seed)
    acc, mca = [], []
    for start in range(0, resamples, 100):  # 100 resamples at a time: memory stays ~100 x n
        idx = rng.integers(0, n, size=(min(100, resamples - start), n))
        correct = (y_true == y_pred)[idx]
        acc.append(correct.mean(1))
        # Per resample and class: hits and support, by one bincount over (resample, class) cells.
        r = len(idx)
        cell = (np.arange(r)[:, None] * num_classes + y_true[idx]).ravel()
        hits = np.bincount(cell, weights=correct.ravel(), minlength=r * num_classes).reshape(r, -1)
        support = np.bincount(cell, minlength=r * num_classes).reshape(r, -1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mca.append(np.nanmean(np.where(support > 0, hits / np.maximum(support, 1), np.nan), axis=1))
    acc, mca = np.concatenate(acc), np.concatenate(mca)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return {
        "accuracy": [round(float(v), 6) for v in np.percentile(acc, q)],
        "mean_class_accuracy": [round(float(v), 6) for v in np.percentile(mca, q)],
    }


def summarize(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: list[str],
    subsets: dict[str, np.ndarray],
    bootstrap: int = 0,
    seed: int = 0,
) -> dict:
    """The metrics/eval.json record: overall, mean-class, per-class and per-subset accuracy, and with
    `bootstrap` resamples the 95% intervals of the first two (`ci95`)."""
    cm = confusion_matrix(y_true, y_pred, len(classes))
    per_class = per_class_accuracy(cm)
    out = {
        "n": int(len(y_true)),
        "accuracy": round(accuracy(cm), 6),
        "mean_class_accuracy": round(mean_class_accuracy(cm), 6),
        "per_class": {c: round(float(a), 6) for c, a in zip(classes, per_class) if np.isfinite(a)},
    }
    if bootstrap and len(y_true):
        out["ci95"] = bootstrap_ci(y_true, y_pred, len(classes), bootstrap, seed)
    flagged = {name: np.asarray(rows, bool) for name, rows in subsets.items() if np.any(rows)}
    if flagged:
        out["subsets"] = {k: round(float((y_true[r] == y_pred[r]).mean()), 6) for k, r in flagged.items()}
        out["subset_n"] = {k: int(r.sum()) for k, r in flagged.items()}
    return out


def off_face_share(erased: np.ndarray, face: np.ndarray) -> float:
    """Share of the erased mass that lies off the face (background or occluder).

    `erased` (N, H, W) in [0, 1] is how much of each pixel the mask removes; `face` (N, H, W) is 1 on
    face pixels. 1.0 means every erased pixel was background or occluder.
    """
    erased = np.asarray(erased, np.float64)
    total = erased.sum()
    return float((erased * (1 - np.asarray(face, np.float64))).sum() / total) if total else float("nan")


def mask_hardness(mp: np.ndarray, margin: float = 0.1) -> float:
    """Share of G's raw per-patch outputs Mp within `margin` of 0 or 1: how decided G is.

    Measured before any top-k or complement, so it can fail: 1.0 for a G that outputs binary masks,
    0 for a degenerate one that dims every patch a little (Mp near m everywhere).
    """
    mp = np.asarray(mp, np.float64)
    return float(((mp <= margin) | (mp >= 1 - margin)).mean())


def mask_specificity(erased: np.ndarray, seed: int = 0) -> float:
    """How much the masks differ from image to image, relative to random masks of the same values.

    The mean absolute deviation of each image's mask (N, ...) from the mean mask, divided by the same
    for the masks with every image's values shuffled across its positions. 0 for an image-independent
    generator (the same mask for every image); about 1 for masks as varied as random ones.
    """
    erased = np.asarray(erased, np.float64).reshape(len(erased), -1)
    shuffled = np.random.default_rng(seed).permuted(erased, axis=1)
    spread = np.abs(erased - erased.mean(0)).mean()
    baseline = np.abs(shuffled - shuffled.mean(0)).mean()
    return float(spread / baseline) if baseline else float("nan")
