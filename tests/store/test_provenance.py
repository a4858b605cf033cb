"""Provenance (bench/store/provenance.py): the lock file a run records, and whether the environment matches it."""

from __future__ import annotations

import json
from importlib import metadata

from bench.store.provenance import RUN_LOCK, environment, lock_state
from conftest import REPO


def test_the_lock_files_pin_every_package_with_hashes():
    for name in ("run.txt", "test.txt"):
        lines = (REPO / "requirements" / name).read_text().splitlines()
        pins = [line for line in lines if line and line[0].isalpha()]
        assert len(pins) > 50 and all("==" in line for line in pins), name
        assert sum("--hash=sha256:" in line for line in lines) >= len(pins), name


def test_a_run_records_the_lock_digest_and_whether_the_environment_matches_it(tmp_path):
    state = lock_state()
    assert state["file"] == "requirements/run.txt" and len(state["sha256"]) == 64
    assert state == environment()["lock"]
    numpy = metadata.version("numpy")
    lock = tmp_path / "requirements" / "run.txt"
    lock.parent.mkdir()
    lock.write_text(f"numpy=={numpy} \\\n    --hash=sha256:00\n# via x\nnot-a-package-here==1.0 ; sys_platform == 'linux'\n"
                    "tqdm==0.0.1\n")  # fmt: skip
    other = lock_state(lock)
    assert other["matches"] is False
    assert other["differences"] == {
        "not-a-package-here": "installed nothing, locked 1.0",
        "tqdm": f"installed {metadata.version('tqdm')}, locked 0.0.1",
    }
    json.dumps(other)
    assert lock_state(tmp_path / "missing.txt") is None
    assert RUN_LOCK == REPO / "requirements" / "run.txt"


def test_installed_versions_read_from_folder_names_equal_importlib_metadata():
    from importlib import metadata

    from bench.api.versions import installed_version

    names = {dist.metadata["Name"] for dist in metadata.distributions()}
    assert len(names) > 50  # the test environment: numpy, torch, pandas, ...
    for name in names:
        assert installed_version(name) == metadata.version(name), name
    assert installed_version("opencv_python.Headless") == metadata.version("opencv-python-headless")
    assert installed_version("no-such-distribution-here") is None
