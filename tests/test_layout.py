"""The layout a newcomer reads: few top-level entries, one job per module said in its first line, small
functions, and a layout table (docs/development.md) that names every package and module."""

from __future__ import annotations

import ast
import re

from conftest import REPO

#: Functions allowed over MAX_LINES: numeric kernels, whose length is the arithmetic of a published formula.
NUMERIC_KERNELS = {("bench/metrics/colour.py", "_ciede2000_sum")}
MAX_LINES = 80


def _modules() -> list:
    return sorted(p for package in ("bench", "bench_codecs", "bench_datasets") for p in (REPO / package).rglob("*.py"))


def test_bench_has_about_twelve_entries_at_its_top_level():
    entries = sorted(p.name for p in (REPO / "bench").iterdir() if p.name != "__pycache__")
    assert len(entries) <= 14, entries
    packages = [p for p in (REPO / "bench").iterdir() if p.is_dir() and p.name != "__pycache__"]
    assert len(packages) >= 10 and all((p / "__init__.py").is_file() for p in packages)


def test_every_module_says_its_one_job_in_its_first_line():
    missing = []
    for path in _modules():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        first = (doc or "").splitlines()[0] if doc else ""
        if len(first) < 15 or len(first) > 120:
            missing.append(f"{path.relative_to(REPO)}: {first!r}")
    assert not missing, "\n".join(missing)


def test_no_function_is_longer_than_80_lines_but_the_numeric_kernels():
    long = []
    for path in _modules():
        relative = path.relative_to(REPO).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES and (relative, node.name) not in NUMERIC_KERNELS:
                    long.append(f"{relative}: {node.name} ({lines} lines)")
    assert not long, "\n".join(long)


def _layout_rows() -> dict[str, str]:
    """The layout table of docs/development.md: first cell (where) -> second cell (its job)."""
    section = (
        (REPO / "docs" / "development.md").read_text(encoding="utf-8").split("## Layout", 1)[1].split("\n## ", 1)[0]
    )
    rows = re.findall(r"^\| (`[^|]+`) \| (.+) \|$", section, re.M)
    return dict(rows)


def test_the_layout_table_names_every_package_and_every_module_in_its_row():
    rows = _layout_rows()
    for package in sorted(p for p in (REPO / "bench").iterdir() if p.is_dir() and p.name != "__pycache__"):
        row = rows.get(f"`bench/{package.name}/`")
        assert row is not None, f"bench/{package.name}/ has no row in the layout table of docs/development.md"
        if package.name == "cli":  # "one module per command": the commands are listed by `bench --help`
            continue
        for module in sorted(package.glob("*.py")):
            if module.name != "__init__.py":
                assert f"`{module.name}`" in row, f"bench/{package.name}/{module.name} is not in its layout row"
