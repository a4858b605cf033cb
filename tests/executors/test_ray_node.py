"""What a Ray node gets (bench/executors/ray_node.py): plugin files and trained families packed by the
driver, and the versions a node must share with the driver."""

from __future__ import annotations

import shutil

from conftest import REPO


def test_a_trained_family_travels_with_its_plugin_file(tmp_path):
    from bench.api.codec_registry import discover
    from bench.executors.ray_node import pack_plugin, unpack_plugins

    family = tmp_path / "my-family"
    shutil.copytree(REPO / "bench_codecs" / "weights" / "factorized-small", family)
    (family / "plugin.py").write_text(
        "from pathlib import Path\nfrom bench.neural.codec import make_family_codec\n"
        "FamilyCodec = make_family_codec(Path(__file__).parent, name='my-family')\n"
    )
    packed = pack_plugin(family / "plugin.py")
    assert {name for name, _ in packed.files} >= {"plugin.py", "family.json", "lambda0.0018.safetensors"}
    (copy,) = unpack_plugins([packed], tmp_path / "node")  # what a node does with it
    shutil.rmtree(family)  # the node has nothing of the driver's files
    registry = discover([copy])
    assert registry.get("my-family").unavailable_reason() is None
    assert unpack_plugins([packed], tmp_path / "node") == (copy,)  # once per node
    lone = tmp_path / "lone" / "plugin.py"
    lone.parent.mkdir()
    lone.write_text("x = 1\n")
    (lone.parent / "big.bin").write_bytes(b"0" * 1000)
    assert [name for name, _ in pack_plugin(lone).files] == ["plugin.py"]  # not a family: the file alone


def test_version_differences_name_each_package():
    from bench.executors.ray_node import version_differences

    driver = {"python": "3.11.7", "packages": {"numpy": "1.26.4", "torch": "2.5"}, "libraries": {"libwebp": "1.6"},
              "codec_bench_files": "a" * 64}  # fmt: skip
    assert version_differences(driver, dict(driver)) == []
    node = {**driver, "packages": {"numpy": "1.26.3"}, "codec_bench_files": "b" * 64}
    assert version_differences(driver, node) == [
        "numpy 1.26.3 (driver: 1.26.4)",
        "torch missing (driver: 2.5)",
        f"codec_bench_files {'b' * 12} (driver: {'a' * 12})",
    ]
