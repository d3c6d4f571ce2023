"""Label-noise injection for the relabeling experiments."""

from __future__ import annotations

import numpy as np


def inject_label_noise(labels: np.ndarray, rate: float, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Flip exactly round(rate * N) labels, each to a class drawn uniformly from the other K - 1.

    Returns a new array; `labels` (the clean ones) is left as it is.
    """
    noisy = labels.copy()
    n_flip = int(round(rate * len(labels)))
    idx = rng.choice(len(labels), size=n_flip, replace=False)
    # An offset in 1..K-1 added modulo K never lands on the original class and is uniform over the rest.
    noisy[idx] = (labels[idx] + rng.integers(1, num_classes, size=n_flip)) % num_classes
    return noisy
