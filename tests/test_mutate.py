"""tests/mutate.py stays in step with the code: every mutation's text is still there, exactly once."""

from __future__ import annotations

import pytest

from conftest import ROOT
from mutate import MUTATIONS


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_every_mutation_still_applies_exactly_once(mutation):
    assert len(MUTATIONS) >= 10
    for file, old, new in mutation.edits:
        assert old != new and (ROOT / "src" / "mvt_fer" / file).read_text().count(old) == 1, file
    for node in mutation.tests:
        assert (ROOT / node.split("::")[0]).is_file(), node
