"""A family folder (bench/neural/family.py): its weights lie in it, and a family whose weights are not
those family.json names is unavailable as a codec, with the reason, before any model is loaded."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bench.neural.family import FamilyError, NeuralFamily
from conftest import require_module

require_module("compressai", "the families' models (CompressAI's layers and entropy coders)")


def availability(folder: Path) -> str | None:
    """Why the codec of the family in ``folder`` is unavailable (None: available), as `bench codecs` says."""
    from bench.neural.codec import make_family_codec

    return make_family_codec(folder, name="fam", module=__name__).unavailable_reason()


def rename_weights(folder: Path, name: str) -> None:
    """family.json naming ``name`` as its first model's weights."""
    info = json.loads((folder / "family.json").read_text())
    info["models"][0]["weights"] = name
    (folder / "family.json").write_text(json.dumps(info))


@pytest.mark.parametrize("where", ["parent", "absolute", "symlink"])
def test_a_family_json_naming_weights_outside_its_folder_is_refused(tiny_family, tmp_path, where):
    family = tmp_path / "fam"
    shutil.copytree(tiny_family, family)
    first = json.loads((family / "family.json").read_text())["models"][0]["weights"]
    outside = tmp_path / "outside.safetensors"
    shutil.copy(family / first, outside)  # the right bytes: only where they lie is wrong
    name = {"parent": "../outside.safetensors", "absolute": str(outside), "symlink": first}[where]
    if where == "symlink":
        (family / first).unlink()
        (family / first).symlink_to(outside)
    else:
        rename_weights(family, name)
    with pytest.raises(FamilyError) as refused:
        NeuralFamily(family)
    message = str(refused.value)
    assert "\n" not in message
    assert message == (f"{family / 'family.json'} names weights '{name}' outside {family}; a family's weights "
                       "must be files in its folder")  # fmt: skip
    assert availability(family) == message


def test_a_symlink_within_the_folder_is_fine(tiny_family, tmp_path):
    family = tmp_path / "fam"
    shutil.copytree(tiny_family, family)
    first = json.loads((family / "family.json").read_text())["models"][0]["weights"]
    (family / "store").mkdir()
    (family / first).rename(family / "store" / first)
    (family / first).symlink_to(Path("store") / first)
    assert availability(family) is None and NeuralFamily(family).model(1) is not None


def test_weights_changed_after_training_make_the_family_unavailable(tiny_family, tmp_path, monkeypatch):
    from bench.neural import family as family_module

    family = tmp_path / "fam"
    shutil.copytree(tiny_family, family)
    hashed: list[Path] = []
    sha256_file = family_module.sha256_file
    monkeypatch.setattr(family_module, "sha256_file", lambda path: hashed.append(path) or sha256_file(path))
    assert availability(family) is None and availability(family) is None
    assert len(hashed) == len(set(hashed)) == 2  # each file hashed once while it stays as it is

    weights = family / json.loads((family / "family.json").read_text())["models"][1]["weights"]
    stat = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-3] ^= 1  # one bit of a tensor, the file's size and times as they were
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    reason = availability(family)
    assert reason is not None and "\n" not in reason
    assert reason.startswith(f"{weights} has sha256 ") and "family.json says" in reason
    with pytest.raises(FamilyError, match="family.json says"):  # what loading the model refuses
        NeuralFamily(family).model(2)
