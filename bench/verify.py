"""``bench verify CODEC``: do the codec's bitstreams decode to the same image everywhere?

For each test image and quality the codec encodes here and decodes here (the reconstruction the
encoder side expects); then a fresh Python process, with nothing but the files, decodes the same
bytes, and the two reconstructions must be identical. On a machine with a GPU, codecs that run on a
device are also checked across devices: encoded on the CPU and decoded on the GPU, and the reverse.
Learned codecs are known to fail this when floating-point differences between devices change the
entropy model's tables (the decoder then desynchronises); any difference is reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.options import PLUGINS, float_list, option, positive_int

__all__ = ["VerifyConfig", "VerifyError", "VerifyReport", "verify", "verify_codec"]


class VerifyError(RuntimeError):
    """The check cannot run (unknown or unavailable codec, no images)."""


@dataclass(frozen=True)
class VerifyConfig:
    """The codec to check and with what; each field is an option of ``bench verify``."""

    codec: str = field(metadata=option())
    dataset: str = field(default="kodak", metadata=option("--dataset", help="images to check with (default: kodak)"))
    data_dir: Path | None = field(default=None, metadata=option("--data-dir", parse=Path))
    max_images: int = field(default=2, metadata=option("--max-images", parse=positive_int))
    qualities: tuple[float, ...] | None = field(default=None, metadata=option(
        "--quality", parse=float_list, metavar="QUALITY", help="knob values (default: the whole sweep)"))  # fmt: skip
    plugins: tuple[str, ...] = field(default=(), metadata=PLUGINS)


@dataclass
class VerifyReport:
    lines: list[str] = field(default_factory=list)
    mismatches: int = 0

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


_DECODE = """
import json, sys
import numpy as np
from bench.registry import discover
spec = json.loads(sys.argv[1])
codec = discover(spec["plugins"]).get(spec["codec"]).create(spec["device"])
for path in spec["files"]:
    try:
        np.save(path + ".npy", codec.decode(open(path, "rb").read()))
    except Exception as exc:
        open(path + ".error", "w").write(f"{type(exc).__name__}: {exc}")
"""


def _fresh_decode(codec: str, device: str, plugins: tuple[str, ...], files: list[Path]) -> dict[Path, np.ndarray | str]:
    spec = {
        "codec": codec,
        "device": device,
        "plugins": [str(Path(p).resolve()) for p in plugins],
        "files": [str(f) for f in files],
    }
    proc = subprocess.run(
        [sys.executable, "-c", _DECODE, json.dumps(spec)], capture_output=True, text=True, timeout=3600
    )
    if proc.returncode != 0:
        raise VerifyError(f"the decoding process failed: {proc.stderr.strip()[-800:]}")
    out: dict[Path, np.ndarray | str] = {}
    for f in files:
        error = f.with_name(f.name + ".error")
        out[f] = error.read_text() if error.exists() else np.load(f.with_name(f.name + ".npy"))
    return out


def _compare(expected: np.ndarray, got: np.ndarray | str) -> str | None:
    if isinstance(got, str):
        return f"decoding failed: {got}"
    if got.shape != expected.shape:
        return f"shape {got.shape} instead of {expected.shape}"
    differ = int(np.count_nonzero(got != expected))
    if differ:
        diff = np.abs(got.astype(int) - expected.astype(int)).max()
        return f"{differ} of {expected.size} samples differ (max difference {diff})"
    return None


def verify_codec(name: str, **options: Any) -> VerifyReport:
    """Check codec ``name``; ``options`` are the other fields of :class:`VerifyConfig` (``dataset``,
    ``data_dir``, ``max_images``, ``qualities``, ``plugins``)."""
    return verify(VerifyConfig(name, **options))


def verify(config: VerifyConfig) -> VerifyReport:
    """Encode here and decode in a fresh process (and across devices) each image and quality of ``config``."""
    from bench.datasets import resolve_dataset
    from bench.images import load_rgb8
    from bench.registry import RegistryError, discover

    name = config.codec
    try:
        entry = discover(config.plugins).get(name)
    except RegistryError as exc:
        raise VerifyError(str(exc)) from exc
    reason = entry.unavailable_reason()
    if reason:
        raise VerifyError(f"codec '{name}' is not available here: {reason}")
    knob = entry.cls.knob
    try:
        values = knob.ordered(config.qualities if config.qualities is not None else knob.sweep)
        items = resolve_dataset(config.dataset, config.data_dir).images[: config.max_images]
    except Exception as exc:
        raise VerifyError(str(exc)) from exc
    images = [load_rgb8(item.path) for item in items]

    devices = ["cpu"]
    if entry.cls.uses_device:
        import torch

        if torch.cuda.is_available():
            devices.append("cuda")
    report = VerifyReport()
    with tempfile.TemporaryDirectory(prefix="codec-bench-verify-") as tmp:
        expected: dict[tuple[str, Path], np.ndarray] = {}
        files_by_device: dict[str, list[Path]] = {d: [] for d in devices}
        for device in devices:
            codec = entry.create(device)
            for image in images:
                for q in values:
                    path = Path(tmp, f"{device}-{Path(image.name).stem}-q{q:g}.bin")
                    data = codec.encode(image.pixels, q)
                    path.write_bytes(data)
                    expected[device, path] = codec.decode(data)
                    files_by_device[device].append(path)
        checks = [(enc, dec) for enc in devices for dec in devices]
        for enc, dec in checks:
            files = files_by_device[enc]
            decoded = _fresh_decode(name, dec, config.plugins, files)
            for path in files:
                problem = _compare(expected[enc, path], decoded[path])
                label = f"{name} {path.stem.split('-', 1)[1]}: encoded on {enc}, decoded on {dec} in a fresh process"
                report.lines.append(
                    f"{'MISMATCH' if problem else 'identical'}  {label}" + (f": {problem}" if problem else "")
                )
                report.mismatches += bool(problem)
    total = len(report.lines)
    report.lines.append(
        f"{total - report.mismatches} of {total} checks identical"
        + ("" if len(devices) > 1 or not entry.cls.uses_device else " (no GPU here: CPU only)")
    )
    return report
