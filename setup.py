"""Build hooks (everything else is in pyproject.toml): a built codec-bench records the commit it was built from.

``bench/_build.json`` (``{"commit": ..., "dirty": ...}``) goes into the sdist and the wheel when they are
built from a git checkout; a wheel built from an sdist takes the sdist's. ``bench --version`` and every
run's ``run.json`` (``git``) read it where the package does not run from a checkout
(:func:`bench.store.provenance.git_state`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

RECORD = Path("bench", "_build.json")


def _checkout_state() -> dict | None:
    """The commit and dirtiness of the checkout this is built from; None outside one (an unpacked sdist)."""
    if not Path(".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                text=True, check=True).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.strip(), "dirty": bool(status.strip())}


def _write_record(folder: Path) -> None:
    """Write the record into ``folder``'s ``bench/``: the checkout's state, else the one this source has."""
    state = _checkout_state()
    target = folder / RECORD
    if state is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(state) + "\n", encoding="utf-8")
    elif RECORD.is_file() and RECORD.resolve() != target.resolve():
        shutil.copyfile(RECORD, target)


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:  # an editable install runs from the checkout, which git describes
            _write_record(Path(self.build_lib))


class Sdist(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        _write_record(Path(base_dir))


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
