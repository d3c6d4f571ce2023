"""Shared fixtures: a shrunken configuration that runs every stage in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mvt_fer import presets
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


# Overrides on top of the project's params.yaml (src/mvt_fer/configs/_tiny.yaml): tiny model, few images, one
# or two epochs.
TINY = presets.load("_tiny")
merge = presets.merge


@pytest.fixture
def base_params() -> dict:
    return read_yaml(ROOT / "params.yaml")


@pytest.fixture
def tiny_params(base_params) -> dict:
    return merge(base_params, TINY)
