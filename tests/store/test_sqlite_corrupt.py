"""A damaged store (bench/store/sqlite.py): every command that opens one ends with one line naming the
file, saying it is corrupt and what to do, and touches nothing.

The store is a real one (jpeg at two qualities on one synthetic image) with one page in the middle of
the file overwritten, as a failing disk or a half-copied file leaves it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.store.sqlite import Store, StoreCorrupt
from conftest import bench_cli, quiet_run, write_synthetic_images


@pytest.fixture(scope="module")
def damaged_run(tmp_path_factory) -> Path:
    """A run folder whose store.sqlite has one page in the middle overwritten with other bytes."""
    root = tmp_path_factory.mktemp("corrupt")
    images = write_synthetic_images(root / "images", 1)
    out = root / "run"
    assert quiet_run(dataset=str(images), codecs=("jpeg",), qualities=(30, 70), out=out, save_bitstreams=True).ok
    store = out / "store.sqlite"
    pages = store.stat().st_size // 4096
    assert pages >= 8
    with open(store, "r+b") as fh:
        fh.seek(pages // 2 * 4096)
        fh.write(bytes(range(256)) * 16)
    return out


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_opening_a_damaged_store_says_it_is_corrupt_and_what_to_do(damaged_run):
    for read_only in (False, True):
        with pytest.raises(StoreCorrupt) as err:
            Store(damaged_run / "store.sqlite", read_only=read_only)
        message = str(err.value)
        assert "\n" not in message and message.startswith(f"{damaged_run / 'store.sqlite'} is corrupt (SQLite: ")
        assert "move it away" in message and "records.csv" in message and ".recover" in message


@pytest.mark.parametrize("command", ["run", "score", "report", "export"])
def test_every_command_that_opens_a_damaged_store_ends_with_one_line_naming_it(damaged_run, tmp_path, command):
    folder = Path(shutil.copytree(damaged_run, tmp_path / "run"))
    args = {
        "run": ["run", "--dataset", str(damaged_run.parent / "images"), "--codec", "jpeg", "--quality", "30,50",
                "--out", str(folder), "-j", "1", "--no-progress"],
        "score": ["score", str(folder), "--metrics", "psnr_y", "-j", "1", "--no-progress"],
        "report": ["report", str(folder)],
        "export": ["export", str(folder), "--out", str(tmp_path / "exported")],
    }[command]  # fmt: skip
    done = bench_cli(*args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert last_line(done.stderr).startswith(f"bench {command}: {folder / 'store.sqlite'} is corrupt (SQLite: ")
    assert (folder / "store.sqlite").read_bytes() == (damaged_run / "store.sqlite").read_bytes()
