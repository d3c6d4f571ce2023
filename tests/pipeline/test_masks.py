"""The masks stage's bounds (masks.source random / oracle) on a store without face truth, and seeding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mvt_fer.errors import UserError
from mvt_fer.pipeline.masks import bound_masks


class _Store:  # a prepared store of a real dataset: no face truth
    image_size = 32

    def rows(self, split):
        return pd.DataFrame({"label": [0, 1, 2]})

    def face(self, split):
        return None


def test_oracle_needs_face_truth_and_says_so_in_one_line():
    with pytest.raises(UserError, match=r"masks.source: oracle needs the face truth") as err:
        bound_masks("oracle", _Store(), "test", index=0, patch_size=8, ratio=0.25, seed=0)
    assert "\n" not in str(err.value)


def test_random_bounds_follow_the_seed_and_the_split():
    a = bound_masks("random", _Store(), "train", index=0, patch_size=8, ratio=0.25, seed=0)
    assert a.shape == (3, 4, 4) and (a.reshape(3, -1).sum(1) == 4).all()
    assert np.array_equal(a, bound_masks("random", _Store(), "train", index=0, patch_size=8, ratio=0.25, seed=0))
    assert not np.array_equal(a, bound_masks("random", _Store(), "train", index=0, patch_size=8, ratio=0.25, seed=1))
    assert not np.array_equal(a, bound_masks("random", _Store(), "test", index=1, patch_size=8, ratio=0.25, seed=0))
