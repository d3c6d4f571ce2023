"""Shared fixtures: a shrunken configuration that runs every stage in seconds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mvt_fer import presets
from mvt_fer.params import read_yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def cache_type() -> str:
    """The project's DVC cache.type (.dvc/config), which the tests' DVC repos use too."""
    config = (ROOT / ".dvc" / "config").read_text()
    return re.search(r"^\[cache\][^[]*?^\s*type\s*=\s*(\S+)", config, re.M | re.S)[1]


def needs_shared_data(*parts: str) -> pytest.MarkDecorator:
    """Skip a test whose real data (paths under ../shared/data) is absent, unless MVT_REQUIRE_SHARED_DATA=1
    (CI sets it: there a missing file fails the test instead of skipping it silently)."""
    missing = [p for p in parts if not (SHARED_DATA / p).exists()]
    skip = bool(missing) and os.environ.get("MVT_REQUIRE_SHARED_DATA") != "1"
    return pytest.mark.skipif(skip, reason=f"no {', '.join(missing)} in ../shared/data")


def decode(plan, folder: Path, skip: bool = False, workers: int = 1) -> tuple[dict, dict]:
    """An adapter's plan through the store writer prepare uses, read back: ({split: SplitData with images
    (and face) in memory}, {part: {"kept", "dropped"}}). A bad row raises as in prepare."""
    from mvt_fer.data.rows import DecodePool
    from mvt_fer.data.store import write_split

    folder.mkdir(parents=True, exist_ok=True)
    splits, report = {}, {}
    for name, parts in plan.splits.items():
        with DecodePool(workers) as pool:
            split, part_report = write_split(folder, name, parts, pool, skip)
        report |= part_report
        if split is not None:
            split.images = np.load(folder / f"{name}.npy")
            face = folder / f"{name}_face.npy"
            split.face = np.load(face) if face.is_file() else None
            splits[name] = split
    if plan.check is not None:
        plan.check(splits)
    return splits, report


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


def run_cmd(cmd: list[str], cwd: Path, env: dict) -> str:
    """Run a command; fail the test with its output unless it exits 0."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture
def repo(tmp_path, tiny_params):
    """A temporary git + DVC repo holding a copy of the project (stages, src, dvc.yaml) and the tiny params,
    committed, with DVC's and git's global state kept in tmp_path."""
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("stages", "src"):
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "dvc.yaml", work / "dvc.yaml")
    (work / "params.yaml").write_text(yaml.safe_dump(tiny_params, sort_keys=False))
    env = dict(os.environ)
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        PYTHONPATH=str(work / "src"),  # the copy, so DVC's code deps are the code that runs
        DVC_SITE_CACHE_DIR=str(tmp_path / "dvc-site"),
        DVC_GLOBAL_CONFIG_DIR=str(tmp_path / "dvc-global"),
        DVC_NO_ANALYTICS="1",
        GIT_CONFIG_NOSYSTEM="1",
    )
    run_cmd(["git", "init", "-q", "-b", "main"], work, env)
    run_cmd(["git", "config", "user.name", "test"], work, env)
    run_cmd(["git", "config", "user.email", "test@example.com"], work, env)
    run_cmd(["dvc", "init", "-q"], work, env)
    run_cmd(["dvc", "config", "core.analytics", "false"], work, env)
    run_cmd(["dvc", "config", "cache.type", cache_type()], work, env)  # the project's: outputs linked, not copied
    run_cmd(["git", "add", "-A"], work, env)
    run_cmd(["git", "commit", "-q", "-m", "init"], work, env)
    return work, env
