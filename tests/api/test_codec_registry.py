"""Discovery of codecs (bench/api/codec_registry.py): built-ins, entry points of installed packages and plugin files."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from bench.api.codec import Codec, Knob, register_codec
from bench.api.codec_registry import ENTRY_POINT_GROUP, RegistryError, discover
from conftest import bench_cli, doc_example


def test_the_guides_plugin_example_is_short():
    assert len(doc_example("guides/add-codec.md").strip().splitlines()) < 40


def test_the_guides_plugin_example_loads_lists_and_runs(tmp_path, small_dataset):
    plugin = tmp_path / "jpeg444.py"
    plugin.write_text(doc_example("guides/add-codec.md"))
    listing = bench_cli("codecs", "--plugin", str(plugin))
    assert listing.returncode == 0, listing.stderr
    assert re.search(rf"jpeg444\s+available \(traditional, plugin {re.escape(str(plugin))}\)", listing.stdout)
    out = tmp_path / "run"
    result = bench_cli("run", "--dataset", str(small_dataset), "--plugin", str(plugin), "--codec", "jpeg444,jpeg",
                       "--quality", "30,70", "--out", str(out), "-j", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = (out / "records.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2 * 4
    assert sum(row.startswith("jpeg444,") for row in rows) == 8


def test_builtins_are_discovered_with_their_origin():
    registry = discover(use_entry_points=False)
    assert {"jpeg", "webp", "jpeg2000", "heif", "avif", "jpegxl", "bpg", "jpegxl-cli"} <= set(registry.names())
    assert all(entry.origin == "builtin" for entry in registry.entries())


def write_distribution(site: Path, module_source: str, entry_value: str) -> str:
    """A minimal installed distribution (dist-info with entry_points.txt), as pip would leave it.

    The module gets a name of its own per test (modules are cached in sys.modules); returns it.
    """
    module = "acme_codecs_" + re.sub(r"\W", "_", site.name)
    (site / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = site / "acme_codecs-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-codecs\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nacme = {entry_value.format(module=module)}\n")
    return module


ACME = """
import numpy as np
from bench.api.codec import Codec, Knob, register_codec

@register_codec
class AcmeCodec(Codec):
    name = "acme"
    knob = Knob("quality", 1, 100, (50,))
    def encode(self, image, quality): return b"acme" + image.tobytes()
    def decode(self, data): raise NotImplementedError
    def settings(self): return {}
    def versions(self): return {"acme": "1.0"}
"""


def test_entry_point_module_is_discovered(tmp_path, monkeypatch):
    module = write_distribution(tmp_path, ACME, "{module}")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = discover()
    assert "acme" in registry
    assert registry.get("acme").origin == f"entry point 'acme' ({module}, acme-codecs)"
    assert "acme" not in discover(use_entry_points=False)


def test_entry_point_naming_a_class_is_discovered(tmp_path, monkeypatch):
    write_distribution(tmp_path, ACME, "{module}:AcmeCodec")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert discover().get("acme").cls.__name__ == "AcmeCodec"


def test_bench_codecs_lists_entry_point_codecs(tmp_path):
    write_distribution(tmp_path, ACME, "{module}")
    result = bench_cli("codecs", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "acme         available (traditional, entry point 'acme'" in result.stdout


def test_broken_entry_point_is_reported_without_hiding_the_others(tmp_path, monkeypatch, small_dataset):
    write_distribution(tmp_path, "raise ImportError('libacme.so missing')", "{module}")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = discover()
    assert "jpeg" in registry and "acme" not in registry
    assert re.match(r"entry point 'acme' .* failed to load: ImportError: libacme.so missing", registry.broken["acme"])
    with pytest.raises(RegistryError, match="libacme.so missing"):
        registry.get("acme")
    listing = bench_cli("codecs", env={"PYTHONPATH": str(tmp_path)})
    assert listing.returncode == 0 and "acme         NOT AVAILABLE" in listing.stdout
    asked = bench_cli("run", "--dataset", str(small_dataset), "--codec", "acme", "--out", str(tmp_path / "o"),
                      env={"PYTHONPATH": str(tmp_path)})  # fmt: skip
    assert asked.returncode == 2 and "codec 'acme' cannot be loaded" in asked.stderr


def test_codec_names_cannot_clash(tmp_path):
    plugin = tmp_path / "clash.py"
    plugin.write_text(ACME.replace('name = "acme"', 'name = "jpeg"'))
    with pytest.raises(RegistryError, match=r"codec name 'jpeg' from plugin .*clash.py is already taken by builtin"):
        discover([plugin], use_entry_points=False)


def test_plugin_file_problems_name_the_file(tmp_path):
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(RegistryError, match=r"empty.py defines no @register_codec class"):
        discover([empty], use_entry_points=False)
    broken = tmp_path / "broken.py"
    broken.write_text("def oops(:\n")
    with pytest.raises(RegistryError, match=r"broken.py failed to import: SyntaxError"):
        discover([broken], use_entry_points=False)
    with pytest.raises(RegistryError, match=r"nothere.py does not exist"):
        discover([tmp_path / "nothere.py"], use_entry_points=False)


def test_unknown_codec_lists_the_known_ones():
    with pytest.raises(RegistryError, match=r"unknown codec 'nope'; known codecs: .*jpeg"):
        discover(use_entry_points=False).get("nope")


def test_register_codec_checks_what_it_marks():
    with pytest.raises(TypeError, match="Codec subclass"):
        register_codec(dict)

    class NoKnob(Codec):
        name = "noknob"

    with pytest.raises(TypeError, match="'knob'"):
        register_codec(NoKnob)

    class BadName(Codec):
        name = "Bad Name"
        knob = Knob("q", 0, 1, (1,))

    with pytest.raises(TypeError, match="lower-case"):
        register_codec(BadName)


def test_subclass_of_a_registered_codec_is_not_registered_twice(tmp_path):
    registry = discover(use_entry_points=False)

    class Sub(registry.get("jpegxl").cls):
        pass

    from bench.api.codec import is_registered_codec

    assert is_registered_codec(registry.get("jpegxl").cls) and not is_registered_codec(Sub)
    # a module defining a codec and an undecorated subclass of it (same name): only the codec is found
    plugin = tmp_path / "variant.py"
    plugin.write_text(ACME + "\n\nclass AcmeVariant(AcmeCodec):\n    pass\n")
    assert discover([plugin], use_entry_points=False).get("acme").cls.__name__ == "AcmeCodec"
