"""The console command: help and argument errors come without torch (issue: a 14-17 s `--help`)."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

from mvt_fer.pipeline import STAGES
from mvt_fer.stage import stage_doc

PROBE = """
import sys
from mvt_fer.cli import app
try:
    app(sys.argv[1:], prog_name="mvt-fer")
except SystemExit as e:
    code = e.code
heavy = sorted(m for m in ("torch", "timm", "torchvision", "cv2", "pandas") if m in sys.modules)
print("CODE", code, "HEAVY", ",".join(heavy) or "-")
"""

COMMANDS = [
    ["--help"],
    ["predict", "--help"],
    ["export", "--help"],
    ["preset", "--help"],
    ["ablation", "run", "--help"],
    *([s.replace("_", "-"), "--help"] for s in STAGES),
    ["predict"],
    ["train-mvt", "--no-such-flag"],
    ["preset", "imagenet"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_help_and_bad_arguments_import_no_heavy_library(args):
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    last = proc.stdout.strip().splitlines()[-1]
    code, heavy = last.split()[1], last.split()[3]
    assert heavy == "-", f"mvt-fer {' '.join(args)} imported {heavy}"
    assert code == ("0" if "--help" in args else "2"), proc.stdout + proc.stderr


@pytest.mark.parametrize("name", STAGES)
def test_stage_help_is_the_stage_functions_docstring(name):
    fn = getattr(importlib.import_module(f"mvt_fer.pipeline.{name}"), name)
    assert stage_doc(name) == inspect.cleandoc(fn.__doc__)
