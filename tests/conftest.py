"""Shared fixtures: a shrunken configuration that runs every stage in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mvt_fer.params import read_yaml

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def needs_shared_data(*parts: str) -> pytest.MarkDecorator:
    """Skip a test whose real data (paths under ../shared/data) is absent, unless MVT_REQUIRE_SHARED_DATA=1
    (CI sets it: there a missing file fails the test instead of skipping it silently)."""
    missing = [p for p in parts if not (SHARED_DATA / p).exists()]
    skip = bool(missing) and os.environ.get("MVT_REQUIRE_SHARED_DATA") != "1"
    return pytest.mark.skipif(skip, reason=f"no {', '.join(missing)} in ../shared/data")


# Overrides on top of the project's params.yaml: tiny model, few images, one or two epochs.
TINY = {
    "prepare": {"image_size": 32, "synthetic": {"n_train": 84, "n_val": 14, "n_test": 42}},
    "model": {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2},
    "mgn": {"depth": 1, "d_warmup_epochs": 1, "epochs": 1, "batch_size": 16},
    "masks": {"samples": 4},
    "mvt": {"epochs": 2, "batch_size": 16, "warmup_epochs": 1},
    "evaluate": {"batch_size": 64},
}


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(base.get(k, {}), v) if isinstance(v, dict) else v
    return out


@pytest.fixture
def base_params() -> dict:
    return read_yaml(ROOT / "params.yaml")


@pytest.fixture
def tiny_params(base_params) -> dict:
    return merge(base_params, TINY)
