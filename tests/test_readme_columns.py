"""The README's table of optional columns is the one bench/api/extra_columns.py generates (one source of truth)."""

from __future__ import annotations

import re

from bench.api.extra_columns import markdown_table
from conftest import REPO


def test_the_readme_shows_the_generated_table_of_optional_columns():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- extra-columns:[^>]*-->\n(.*?)<!-- /extra-columns -->", readme, re.S)
    assert found, "the README has no generated table of optional columns"
    assert found.group(1) == markdown_table(), "regenerate it: python -m bench.api.extra_columns"
