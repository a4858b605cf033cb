"""Sphinx configuration of codec-bench's documentation (``make docs``; the test suite builds it too).

Pages are MyST Markdown; the API reference is autodoc of the docstrings as the code has them (reST roles
such as :func:`...`, which Sphinx renders as they are: the reason this site is Sphinx, not MkDocs). The
metric, codec, CLI, run-folder and results pages are generated at build time by ``_ext/bench_docs.py``
from the registries, the command parsers and the stored runs in ``results/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

from bench import __version__  # noqa: E402

project = "codec-bench"
author = "the codec-bench authors"
copyright = "codec-bench authors, BSD-3-Clause"
version = release = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "bench_docs"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_raw", "results/README.md", "**/.ipynb_checkpoints"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links to headings of levels 1-3, checked at build time
smartquotes = False  # conventions quote code (pytorch_msssim.ssim's 'valid'): keep the characters as written

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the docstrings say units and conventions; annotations name private types
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"codec-bench {__version__}"
html_static_path: list[str] = []
