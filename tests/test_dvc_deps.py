"""dvc.yaml's hand-listed deps cover the code each stage runs: every module of the package in the import
closure of its script (imports inside functions included, and the packages' __init__ files that Python
runs on the way). Otherwise an edit there leaves a stale result that `dvc repro` calls up to date."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import ROOT

PACKAGE = ROOT / "src" / "mvt_fer"


def _module_file(name: str) -> Path | None:
    """src/mvt_fer/a/b.py or src/mvt_fer/a/b/__init__.py for 'mvt_fer.a.b'; None outside the package."""
    if name != "mvt_fer" and not name.startswith("mvt_fer."):
        return None
    base = ROOT / "src" / Path(*name.split("."))
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"


def _name_of(path: Path) -> str:
    parts = path.relative_to(ROOT / "src").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved, `from a import sub` included)."""
    if PACKAGE not in path.parents:
        package = ""  # a stage script: absolute imports only
    else:
        package = _name_of(path) if path.name == "__init__.py" else _name_of(path).rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}  # submodules, where they are ones
    return names


def closure(script: Path) -> set[Path]:
    """Package files Python executes when it runs `script`."""
    todo, seen = [script], set()
    while todo:
        path = todo.pop()
        for name in _imports(path):
            parts = name.split(".")
            for k in range(1, len(parts) + 1):  # mvt_fer, mvt_fer.pipeline, ... each __init__ runs
                found = _module_file(".".join(parts[:k]))
                if found is not None and found.is_file() and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return seen


STAGES = YAML(typ="safe", pure=True).load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_deps_cover_the_stages_import_closure(stage):
    deps = [ROOT / d for d in STAGES[stage]["deps"] if isinstance(d, str)]
    script = ROOT / "stages" / f"{stage}.py"
    assert script in deps
    missing = sorted(
        str(f.relative_to(ROOT)) for f in closure(script) if not any(f == d or d in f.parents for d in deps)
    )
    assert not missing, f"dvc.yaml stage {stage} runs these without listing them in deps: {missing}"


def test_closure_follows_relative_and_lazy_imports():
    files = {str(f.relative_to(PACKAGE)) for f in closure(ROOT / "stages" / "train_mvt.py")}
    assert {
        "__init__.py",
        "pipeline/__init__.py",
        "pipeline/train_mvt.py",
        "relabel.py",
        "engine/train.py",
        "models/generator.py",
        "errors.py",
    } <= files
    assert "cli.py" not in files and "ablation.py" not in files
