"""A trained model family on disk: ``family.json`` plus one safetensors file per rate point.

``family.json`` (written by ``bench train``) holds the architecture, the widths, and per model its
quality index (1 = lowest rate), lambda, weights file and that file's sha256, with the training
record (data, steps, seed, device, time, validation results) and the measured complexity. A weights
file must lie in the family's folder (no absolute path, no ``..``, no symbolic link out of it). Weights
are loaded with :func:`safetensors.torch.load_file`, which never runs code from the file, after their
sha256 is checked; :meth:`NeuralFamily.weights_problem` checks the same for every model without loading
one (a codec's availability), its sha256 computed once per file as long as the file's status is unchanged. The entropy models' CDF tables are stored with the weights (computed once by
``update()`` after training), so that every machine codes with exactly the same tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.api.files import sha256_file
from bench.neural.architectures import ARCHITECTURES, build

__all__ = ["FamilyModel", "NeuralFamily", "FamilyError", "FAMILY_FILE", "weights_in"]

FAMILY_FILE = "family.json"


class FamilyError(ValueError):
    """A family folder that is missing, incomplete or inconsistent; the message says what to fix."""


@dataclass(frozen=True)
class FamilyModel:
    quality: int
    lmbda: float
    weights: Path
    sha256: str

    @property
    def model_id(self) -> bytes:
        """The 4 bytes that bitstreams carry to name the model that made them."""
        return bytes.fromhex(self.sha256[:8])


class NeuralFamily:
    """A family folder: its description and, on demand, its models (cached per quality and device)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / FAMILY_FILE
        if not path.is_file():
            raise FamilyError(
                f"{self.folder} has no {FAMILY_FILE}; train a family with `bench train --out {self.folder}`"
            )
        try:
            self.info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FamilyError(f"{path} is not valid JSON: {exc}") from exc
        self.name: str = self.info["name"]
        self.architecture: str = self.info["architecture"]
        if self.architecture not in ARCHITECTURES:
            raise FamilyError(f"{path}: unknown architecture '{self.architecture}'")
        self.N, self.M = int(self.info["N"]), int(self.info["M"])
        self.stride = ARCHITECTURES[self.architecture].stride
        models = [
            FamilyModel(int(m["quality"]), float(m["lambda"]), weights_in(self.folder, m["weights"], path), m["sha256"])
            for m in self.info.get("models", [])
        ]
        if not models:
            raise FamilyError(f"{path} lists no models")
        self.models = {m.quality: m for m in sorted(models, key=lambda m: m.quality)}
        if list(self.models) != list(range(1, len(models) + 1)):
            raise FamilyError(f"{path}: model qualities must be 1..{len(models)}, got {sorted(self.models)}")
        self._loaded: dict[tuple[int, str], Any] = {}

    def missing_files(self) -> list[Path]:
        return [m.weights for m in self.models.values() if not m.weights.is_file()]

    def weights_problem(self) -> str | None:
        """What :meth:`model` would refuse in the family's weights (files missing, or not those that
        ``family.json`` names by their sha256); None when every model's file is there and intact."""
        missing = self.missing_files()
        if missing:
            return f"weights missing: {', '.join(str(p) for p in missing)}"
        for entry in self.models.values():
            problem = _digest_problem(entry, _cached_sha256(entry.weights))
            if problem:
                return problem
        return None

    def model(self, quality: int, device: str = "cpu"):
        """The compressai model of ``quality`` on ``device`` in eval mode (weights checked and cached)."""
        key = (quality, device)
        if key not in self._loaded:
            entry = self.models.get(quality)
            if entry is None:
                raise FamilyError(f"family '{self.name}' has no quality {quality} (1..{len(self.models)})")
            if not entry.weights.is_file():
                raise FamilyError(f"weights file {entry.weights} is missing")
            problem = _digest_problem(entry, sha256_file(entry.weights))
            if problem:
                raise FamilyError(problem)
            from safetensors.torch import load_file

            net = build(self.architecture, self.N, self.M)
            state = {
                k: v.float() if v.is_floating_point() else v
                for k, v in load_file(str(entry.weights), device="cpu").items()
            }
            net.load_state_dict(state)
            self._loaded[key] = net.to(device).eval()
        return self._loaded[key]


def weights_in(folder: Path, name: Any, family_file: Path) -> Path:
    """The weights file ``name`` of ``family_file`` in the family's ``folder``; :class:`FamilyError` when
    ``name`` would lie outside it (an absolute path, ``..``, a symbolic link out of the folder)."""
    if not isinstance(name, str) or not name:
        raise FamilyError(f"{family_file}: a model's weights must be the name of a file in {folder}, not {name!r}")
    path = folder / name
    try:
        inside = not Path(name).is_absolute() and ".." not in Path(name).parts
        inside = inside and path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a loop of symbolic links
        inside = False
    if not inside:
        raise FamilyError(f"{family_file} names weights '{name}' outside {folder}; a family's weights must be "
                          "files in its folder")  # fmt: skip
    return path


def _digest_problem(entry: FamilyModel, actual: str) -> str | None:
    if actual != entry.sha256:
        return f"{entry.weights} has sha256 {actual}, {FAMILY_FILE} says {entry.sha256} (changed since training?)"
    return None


#: sha256 of weights files, with the file status they were computed for: (device, inode, size, mtime, ctime).
_DIGESTS: dict[Path, tuple[tuple[int, ...], str]] = {}


def _cached_sha256(path: Path) -> str:
    """The sha256 of ``path``, computed again only when its status changed (any write changes its ctime)."""
    st = path.stat()
    status = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    cached = _DIGESTS.get(path)
    if cached is None or cached[0] != status:
        cached = _DIGESTS[path] = (status, sha256_file(path))
    return cached[1]
