"""Plugin files (bench/api/plugins.py): a plugin file is named by its content, and a run goes on after its
plugin file moved."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.api.plugins import load_plugin_file
from conftest import bench_cli, png_plugin_source


def test_a_plugin_file_is_named_by_its_content(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    first = tmp_path / "a" / "codec.py"
    first.write_text(png_plugin_source())
    copy = tmp_path / "b" / "codec.py"
    shutil.copy(first, copy)
    renamed = tmp_path / "c" / "renamed.py"
    shutil.copy(first, renamed)
    other = tmp_path / "c" / "codec.py"  # same stem, different content
    other.write_text(png_plugin_source(name="pngother"))
    m1, m2, m3, m4 = (load_plugin_file(p) for p in (first, copy, other, renamed))
    assert m1.__name__ == m2.__name__ == m4.__name__ != m3.__name__
    assert m1.PngTest().describe()["class"] == m2.PngTest().describe()["class"]
    assert m3.PngTest.name == "pngother"
    # the copy runs as itself: code that uses __file__ (a trained family's plugin.py) sees its own folder
    assert Path(m1.__file__) == first.resolve() and Path(m2.__file__) == copy.resolve()
    assert load_plugin_file(first) is not None


def test_a_run_continues_after_its_plugin_file_moved(tmp_path, tiny_folder):
    (tmp_path / "old").mkdir()
    plugin = tmp_path / "old" / "pngtest.py"
    plugin.write_text(png_plugin_source())
    out = tmp_path / "run"
    # 64x48 images: no MS-SSIM (a run where no image has every metric defined exits 1)
    args = ("run", "--dataset", str(tiny_folder), "--codec", "pngtest", "--out", str(out), "--no-progress",
            "--no-report", "-j", "1", "--metrics", "psnr_rgb")  # fmt: skip
    first = bench_cli(*args, "--plugin", str(plugin), "--quality", "1", timeout=120)
    assert first.returncode == 0, first.stderr
    (tmp_path / "new").mkdir()
    moved = plugin.rename(tmp_path / "new" / "pngtest.py")
    again = bench_cli(*args, "--plugin", str(moved), "--quality", "1,9", timeout=120)
    assert again.returncode == 0, again.stderr
    assert len((out / "records.csv").read_text().strip().splitlines()) == 1 + 2 * 2
