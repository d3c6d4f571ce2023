"""The committed page DVC fills for `dvc plots show` / `diff` draws offline: no script from the network."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import ROOT
from mvt_fer.offline_plots import OUT, PACKAGES

PAGE = ROOT / OUT


def test_page_inlines_the_pinned_libraries_and_loads_nothing():
    text = PAGE.read_text(encoding="utf8")
    assert "{plot_divs}" in text and "{scripts}" not in text  # no slot for DVC's CDN script tags
    assert not re.search(r"<script[^>]+src=", text)  # every script is inline
    for name, version in PACKAGES.items():
        assert f"/* {name}@{version} */" in text
    assert "vegaEmbed" in text


def test_dvc_uses_it(tmp_path):
    config = (ROOT / ".dvc" / "config").read_text()
    assert re.search(r"^\s*html_template = offline_plots\.html$", config, re.M)


@pytest.mark.skipif(shutil.which("dvc") is None, reason="dvc not on PATH")
def test_plots_show_writes_a_page_without_network_scripts(tmp_path):
    proc = subprocess.run(
        ["dvc", "plots", "show", "-o", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "out" / "index.html").read_text(encoding="utf8")
    assert "cdn.jsdelivr" not in html and not re.search(r"<script[^>]+src=", html)
    assert html.count("vegaEmbed('#") >= 4  # the curves and the confusion matrices
