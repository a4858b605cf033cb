"""What commands import: listing codecs and running traditional codecs never imports torch or compressai (seconds of
start-up), and what is read instead of importing them is what importing them gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO, require_module

_IMPORTED = "import sys, runpy; sys.argv = {argv!r}; code = 0\n" \
    "try:\n    runpy.run_module('bench', run_name='__main__')\nexcept SystemExit as exc:\n    code = exc.code\n" \
    "print('\\n' + __import__('json').dumps(sorted(m for m in ('torch', 'compressai', 'matplotlib') if m in sys.modules)))\n" \
    "sys.exit(code)"  # fmt: skip


def _modules_after(*argv: str, env: dict[str, str] | None = None) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _IMPORTED.format(argv=["bench", *argv])], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, **(env or {})}, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_bench_codecs_lists_learned_codecs_without_importing_torch():
    assert _modules_after("codecs", "--json") == []


def test_a_jpeg_run_imports_no_torch(tmp_path, small_dataset):
    assert _modules_after("run", "--dataset", str(small_dataset), "--codec", "jpeg", "--quality", "50",
                          "--no-report", "--no-progress", "--out", str(tmp_path / "run")) == []  # fmt: skip


def test_what_is_read_without_importing_torch_equals_what_importing_it_gives():
    """torch's and compressai's versions, the zoo's checkpoint URLs, and torch hub's folder (under each way of
    choosing it), found before torch is imported, then compared with torch's and compressai's own."""
    require_module("compressai", "the learned codecs' libraries")
    code = """
import os, pathlib, sys
from bench.data.download import hub_checkpoints
from bench.neural import import_compressai, module_version
from bench_codecs.compressai_zoo import model_urls
found = (module_version("torch"), module_version("compressai"), model_urls())
cases = [{}, {"XDG_CACHE_HOME": "/somewhere/cache"}, {"TORCH_HOME": "~/th"}]
hubs = []
for case in cases:
    os.environ.pop("TORCH_HOME", None); os.environ.pop("XDG_CACHE_HOME", None); os.environ.update(case)
    hubs.append(hub_checkpoints())
assert not {"torch", "compressai"} & set(sys.modules)
import torch
compressai = import_compressai()
import compressai.zoo.image as zoo
assert found == (torch.__version__, compressai.__version__, zoo.model_urls), found[:2]
for case, ours in zip(cases, hubs):
    os.environ.pop("TORCH_HOME", None); os.environ.pop("XDG_CACHE_HOME", None); os.environ.update(case)
    assert ours == pathlib.Path(torch.hub.get_dir()) / "checkpoints", (case, ours)
print("ok")
"""
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, cwd=REPO,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
