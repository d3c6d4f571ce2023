import numpy as np
import pytest

from mvt_fer.data.noise import inject_label_noise


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.3, 0.5])
def test_exact_rate_and_only_other_classes(rate):
    clean = np.arange(1000) % 7
    noisy = inject_label_noise(clean, rate, 7, np.random.default_rng(0))
    changed = noisy != clean
    assert changed.sum() == round(rate * 1000)
    assert noisy.min() >= 0 and noisy.max() < 7
    assert np.array_equal(clean, np.arange(1000) % 7)  # input untouched


def test_uniform_over_the_other_classes_and_seeded():
    clean = np.zeros(60000, int)
    noisy = inject_label_noise(clean, 0.5, 4, np.random.default_rng(1))
    counts = np.bincount(noisy[noisy != 0], minlength=4)[1:]
    assert np.allclose(counts / counts.sum(), 1 / 3, atol=0.01)
    again = inject_label_noise(clean, 0.5, 4, np.random.default_rng(1))
    assert np.array_equal(noisy, again)
