"""README.md and docs/ name only what a clone has: every repository path they cite exists (in git, or as
an output dvc.yaml declares), every relative link resolves, and the front page stays a front page."""

from __future__ import annotations

import fnmatch
import re
import subprocess

import pytest
from ruamel.yaml import YAML

from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE = re.compile(r"`([^`\s]+)`")  # inline code without spaces: a path, a key, a command word
LINK = re.compile(r"\]\(([^)\s]+)\)")
UNTRACKED = ("checkpoints",)  # written by the training stages for resume; in .gitignore


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return out.split()


def _dvc_outputs() -> list[str]:
    """Every out, metric and plot dvc.yaml declares (paths a `dvc repro` writes)."""
    stages = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["stages"]
    paths = []
    for stage in stages.values():
        for key in ("outs", "metrics", "plots"):
            for entry in stage.get(key, []):
                paths.append(next(iter(entry)) if isinstance(entry, dict) else entry)
    return paths


def _exists(path: str, tracked: list[str], outputs: list[str]) -> bool:
    path = path.rstrip("/")
    if any(ch in path for ch in "*?["):
        return any(fnmatch.fnmatch(f, path) for f in tracked)
    under = lambda base: path == base or path.startswith(base.rstrip("/") + "/")  # noqa: E731
    return (
        path in tracked
        or any(f.startswith(path + "/") for f in tracked)  # a folder
        or any(under(out) for out in outputs)
        or any(under(folder) for folder in UNTRACKED)
    )


def _cited(doc) -> list[str]:
    """Repository paths `doc` cites: inline code whose first component is a top-level entry of the
    repository, and relative links (resolved against the doc's folder)."""
    tracked = _tracked()
    top = {f.split("/")[0] for f in tracked} | {o.split("/")[0] for o in _dvc_outputs()} | set(UNTRACKED)
    text = doc.read_text()
    paths = []
    for token in CODE.findall(text):
        token = re.sub(r"[.,:;)]+$", "", token)
        if "/" in token and token.split("/")[0] in top and "<" not in token.split("/")[0]:
            paths.append(token)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        resolved = (doc.parent / target.split("#")[0]).resolve()
        paths.append(str(resolved.relative_to(ROOT)) if ROOT in resolved.parents else f"outside the clone: {target}")
    return paths


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_cited_path_exists(doc):
    tracked, outputs = _tracked(), _dvc_outputs()
    missing = [p for p in _cited(doc) if not _exists(re.sub(r"<[^>]*>.*$", "", p), tracked, outputs)]
    assert missing == [], f"{doc.name} cites paths a clone does not have: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_no_commit_hashes_and_no_paths_outside_the_clone(doc):
    text = doc.read_text()
    assert re.findall(r"\b[0-9a-f]{7}\b|\b[0-9a-f]{40}\b", text) == []  # history belongs in git, not here
    assert re.findall(r"/(work|tmp)/", text) == []  # paths of a build machine
    if doc.name != "development.md":  # which describes where the tests find the real data
        assert "../shared" not in text


def test_readme_is_a_front_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def test_the_check_can_fail(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("See `src/mvt_fer/nonexistent.py` and [this](../nowhere.md).\n")
    assert _cited(doc)[0] == "src/mvt_fer/nonexistent.py"
    assert not _exists("src/mvt_fer/nonexistent.py", _tracked(), _dvc_outputs())
