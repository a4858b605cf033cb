"""`bench codecs` (bench/cli/codecs.py): what it prints."""

from __future__ import annotations

import re

import PIL

from conftest import bench_cli, png_plugin_source


def test_bench_codecs_aligns_long_names_and_says_each_version_once(tmp_path):
    plugin = tmp_path / "two.py"
    plugin.write_text(
        png_plugin_source("a-very-long-plugin-codec-name-xyz", "LongOne", "1.0")
        + png_plugin_source("shortp", "ShortOne", "2.0").split(
            "from bench.api.codec import Codec, Knob, register_codec"
        )[1]
    )
    result = bench_cli("codecs", "--plugin", str(plugin), timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert result.stdout.count(PIL.__version__) == 1, result.stdout  # each version said once
    assert re.search(rf"^  Pillow: +{re.escape(PIL.__version__)} \[jpeg, webp, .*shortp\]$", result.stdout, re.M)
    assert re.search(r"^  libfoo: +1\.0 \[a-very-long-plugin-codec-name-xyz\], 2\.0 \[shortp\]$", result.stdout, re.M)
    from bench.api.codec_registry import discover

    registry = discover([plugin])
    names = [*registry.broken, *(entry.name for entry in registry.entries())]
    assert "a-very-long-plugin-codec-name-xyz" in names and "jpeg" in names
    status_columns = set()
    for name in names:
        i = next(k for k, line in enumerate(lines) if line.split(" ", 1)[0] == name)
        line = lines[i] if ("available (" in lines[i] or "NOT AVAILABLE (" in lines[i]) else lines[i + 1]
        status = line.index("NOT AVAILABLE (") if "NOT AVAILABLE (" in line else line.index("available (")
        status_columns.add(status)
    assert len(status_columns) == 1, status_columns
    jpeg_block = lines[next(k for k, line in enumerate(lines) if line.startswith("jpeg ")) :][:4]
    assert any("libraries: Pillow, libjpeg-turbo" in line for line in jpeg_block), jpeg_block
