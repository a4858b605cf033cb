"""`bench export` (bench/cli/export.py): each ``<codec>.json`` is written whole or not at all."""

from __future__ import annotations

import json
import shutil

from conftest import FIXTURES


def test_an_export_cut_while_writing_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    """``bench export`` writes each ``<codec>.json`` atomically: `bench report --reference` reads it back."""
    import argparse
    from pathlib import Path

    from bench.cli.export import handle

    run_folder = tmp_path / "run"
    shutil.copytree(FIXTURES / "flat_layout" / "run", run_folder)
    out = tmp_path / "exp"
    out.mkdir()
    (out / "jpeg.json").write_text("{}\n")
    write_text = Path.write_text

    def cut_write(self, data, *args, **kwargs):  # half of the bytes, then the disk is full
        if self.name == "jpeg.json" or (self.name.startswith(".jpeg.json.") and self.name.endswith(".tmp")):
            write_text(self, data[: len(data) // 2], *args, **kwargs)
            raise OSError(28, "No space left on device")
        return write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", cut_write)
    assert handle(argparse.Namespace(run=run_folder, codec=["jpeg"], out=out)) == 2
    monkeypatch.undo()
    assert (out / "jpeg.json").read_text() == "{}\n" and sorted(p.name for p in out.iterdir()) == ["jpeg.json"]
    assert handle(argparse.Namespace(run=run_folder, codec=["jpeg"], out=out)) == 0
    assert json.loads((out / "jpeg.json").read_text())["name"] == "jpeg"
