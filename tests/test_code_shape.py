"""The package's shape, checked rather than hoped for: one module per name, and calls that name what they pass."""

from __future__ import annotations

import ast
from collections import Counter

from conftest import ROOT

PACKAGE = ROOT / "src" / "mvt_fer"
MAX_POSITIONAL = 6  # anywhere in src/
MAX_POSITIONAL_LOOPS = 3  # engine/ and pipeline/: the rest keyword-only (`*,`)


def _positional(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [a.arg for a in fn.args.posonlyargs + fn.args.args if a.arg not in ("self", "cls")]


def _functions():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path.relative_to(PACKAGE), node


def test_no_function_takes_more_than_six_positional_parameters():
    wide = [f"{path}:{fn.lineno} {fn.name}" for path, fn in _functions() if len(_positional(fn)) > MAX_POSITIONAL]
    assert wide == [], f"more than {MAX_POSITIONAL} positional parameters (make the rest keyword-only): {wide}"


def test_engine_and_pipeline_functions_take_the_rest_by_keyword():
    wide = [
        f"{path}:{fn.lineno} {fn.name}"
        for path, fn in _functions()
        if path.parts[0] in ("engine", "pipeline") and len(_positional(fn)) > MAX_POSITIONAL_LOOPS
    ]
    assert wide == [], f"more than {MAX_POSITIONAL_LOOPS} positional parameters in engine/ or pipeline/: {wide}"


def test_no_two_modules_share_a_name():
    names = Counter(path.name for path in PACKAGE.rglob("*.py") if path.name != "__init__.py")
    assert [name for name, n in names.items() if n > 1] == []
