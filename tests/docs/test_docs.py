"""The documentation site (docs/): it builds with warnings as errors, every link between its pages and every
image resolves, the generated pages say what the code says, and the README's measured table is the stored
run's (one source of truth)."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from conftest import REPO, require_module

require_module("sphinx", "building the documentation (the docs extra)")
require_module("myst_parser", "the documentation's Markdown pages (the docs extra)")
sys.path.insert(0, str(REPO / "docs" / "_ext"))
import results_page  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(REPO / "docs"),
                           str(out), "-d", str(out / ".doctrees")], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def _ids(page: Path, cache: dict) -> set[str]:
    if page not in cache:
        cache[page] = set(re.findall(r'\bid="([^"]+)"', page.read_text(encoding="utf-8")))
    return cache[page]


def test_every_link_between_pages_and_every_image_resolves(site):
    ids: dict[Path, set[str]] = {}
    broken = []
    pages = sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)
    assert len(pages) > 20
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r'(?:href|src)="([^"]+)"', text):
            target = html.unescape(target)
            parsed = urlparse(target)
            if parsed.scheme or target.startswith(("mailto:", "//")):
                continue
            path = (page.parent / unquote(parsed.path)).resolve() if parsed.path else page
            if not path.exists():
                broken.append(f"{page.relative_to(site)}: {target} (no such file)")
            elif parsed.fragment and path.suffix == ".html" and parsed.fragment not in _ids(path, ids):
                broken.append(f"{page.relative_to(site)}: {target} (no such anchor)")
    assert not broken, "\n".join(broken)


def test_the_reference_pages_say_what_the_code_says(site):
    from bench.api.codec_registry import discover
    from bench.api.extra_columns import EXTRA_COLUMNS
    from bench.api.metric_registry import discover_metrics
    from bench.cli import COMMANDS

    metrics_html = (site / "reference" / "metrics.html").read_text(encoding="utf-8")
    metrics_text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", metrics_html)).split())
    registry = discover_metrics(use_entry_points=False)
    for name in registry.names():
        convention = " ".join(registry.get(name).convention.split()).rstrip(".")
        assert convention in metrics_text, name
    codecs_page = (site / "reference" / "codecs.html").read_text(encoding="utf-8")
    assert all(f">{entry.name}<" in codecs_page for entry in discover(use_entry_points=False).entries())
    cli = (site / "reference" / "cli.html").read_text(encoding="utf-8")
    assert all(f"bench {command}" in cli for command in COMMANDS) and "--target-bpp" in cli
    measured = (site / "reference" / "measurements.html").read_text(encoding="utf-8")
    assert all(column.name in measured for column in EXTRA_COLUMNS)


def test_the_results_page_and_the_readme_show_the_stored_run(site):
    stored = REPO / "docs" / "results" / "kodak-default"
    page = html.unescape((site / "results.html").read_text(encoding="utf-8"))
    rows = [r for r in results_page._rows(stored / "bd_rate.csv") if r["aggregation"] == "mean-curve"]
    avif = next(r for r in rows if r["codec"] == "avif" and r["metric"] == "psnr_rgb")
    assert f"{float(avif['bd_rate']):+.1f}%" in page  # read from the stored run, not typed
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = results_page.README_BLOCK.search(readme)
    assert block, "the README has no results block"
    assert block.group(2) == results_page.readme_block(stored), "run: python docs/_ext/results_page.py readme"


def test_the_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150 and max(map(len, lines)) <= 200
    assert lines[0] == "# codec-bench" and any("make run" in line for line in lines[:15])
    assert any("make test" in line for line in lines[:15])
