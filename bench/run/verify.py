"""``bench verify CODEC``: do the codec's bitstreams decode to the same image everywhere?

For each test image and quality the codec encodes here and decodes here (the reconstruction the
encoder side expects, and, for learned codecs, the latents the entropy decoder read: ``y_hat``, the
input of the synthesis transform). Then fresh Python processes, with nothing but the files, decode the
same bytes in several **settings**:

- the measuring setting (what ``bench run`` uses: one CPU thread, oneDNN on): the reconstruction must
  be bit-identical;
- for codecs that run on a device (learned codecs), the perturbations the CPU offers: several threads,
  and oneDNN (mkldnn) off, with one and with several threads; these change how float convolutions sum;
- on a machine with a GPU, decoding on the GPU (deterministic algorithms, TF32 off) of files encoded on
  the CPU, and the reverse.

A learned codec **desynchronises** when another setting reads other symbols from the same bytes
(floating-point differences picked another probability table: the rest decodes as noise): some latent
``y_hat = symbol + mean`` then differs by about a whole quantisation step or more (:data:`SYMBOL_STEP`:
half a step counts). A float mean-scale model whose symbols all agree can still give latents that differ
in their last bits (its float ``h_s`` computes the means slightly differently); those are counted apart
("symbols identical, latents within ..."). A codec is **decodable everywhere** when the symbols are
identical in every setting (portable models: the latents are bit-identical). Its reconstruction can
then still differ by one 8-bit level in a few samples (the float synthesis transform sums differently);
the report counts them. ``bench verify`` fails (exit 1) on a decoding error, a desync, a reconstruction
that is not bit-identical in the measuring setting, or one that differs by more than one level.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.api.options import PLUGINS, float_list, option, positive_int
from bench.api.processes import start_program

__all__ = [
    "Outcome",
    "Setting",
    "VerifyConfig",
    "VerifyError",
    "VerifyReport",
    "cpu_settings",
    "verify",
    "verify_codec",
]


#: A latent that differs by this much or more was decoded to another symbol (a desync); less is a float
#: mean computed slightly differently (symbols are integers, the means of a float model float32 values).
SYMBOL_STEP = 0.5


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
    perturb: bool = field(default=True, metadata=option(
        "--no-perturb", action="store_false", help="learned codecs: decode only in the measuring setting, not "
        "also with several threads and with oneDNN off"))  # fmt: skip
    offline: bool = field(default=False, metadata=option(
        "--offline", help="never download: fail if the dataset is not already in the data root, or the codec's "
        "pretrained weights not already in their cache"))  # fmt: skip


@dataclass(frozen=True)
class Setting:
    """Where and how a fresh process decodes: device, CPU threads, oneDNN on or off."""

    device: str = "cpu"
    threads: int | None = None  # None: the codec's own (what bench run measures with)
    onednn: bool = True

    def label(self) -> str:
        if self.device != "cpu":
            return f"{self.device} (deterministic, TF32 off)"
        if self.measuring:
            return "cpu (as bench run measures)"
        threads = "the codec's threads" if self.threads is None else f"{self.threads} thread{'s' * (self.threads > 1)}"
        return f"cpu ({threads}, oneDNN {'on' if self.onednn else 'off'})"

    @property
    def measuring(self) -> bool:
        return self.threads is None and self.onednn


def cpu_settings(perturb: bool) -> list[Setting]:
    """The measuring setting and, with ``perturb``, several threads and oneDNN off."""
    if not perturb:
        return [Setting()]
    many = max(2, min(4, os.cpu_count() or 1))
    return [Setting(), Setting(threads=many), Setting(threads=1, onednn=False), Setting(threads=many, onednn=False)]


@dataclass
class Outcome:
    """One file decoded in one setting, compared with what the encoding process decoded."""

    error: str | None = None
    latents_compared: bool = False
    latents_differ: int = 0  # latent values that differ by SYMBOL_STEP or more: other symbols decoded
    latents_off: int = 0  # latent values that differ by less (float means), symbols identical
    latents_max_off: float = 0.0  # the largest of those differences
    latents_total: int = 0
    samples_differ: int = 0  # 8-bit samples of the reconstruction that differ
    samples_total: int = 0
    max_difference: int = 0

    @property
    def desync(self) -> bool:
        return self.latents_differ > 0


@dataclass
class VerifyReport:
    lines: list[str] = field(default_factory=list)
    mismatches: int = 0
    #: per (encoding device, decoding setting label): the outcomes of its files
    outcomes: dict[tuple[str, str], list[Outcome]] = field(default_factory=dict)
    decodable_everywhere: bool = True
    bit_exact: bool = True

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


_DECODE = """
import json, sys
import numpy as np
from bench.api.codec_registry import discover
spec = json.loads(sys.argv[1])
if spec["uses_torch"] and spec["device"] == "cpu":
    import torch
    torch.backends.mkldnn.enabled = spec["onednn"]
codec = discover(spec["plugins"]).get(spec["codec"]).create(spec["device"])
if spec["threads"] is not None:
    codec.threads = spec["threads"]  # the codec sets torch's threads to this on its first call
for path in spec["files"]:
    try:
        if hasattr(codec, "decode_with_latents"):
            pixels, latents = codec.decode_with_latents(open(path, "rb").read())
            if latents is not None:
                np.save(path + ".lat.npy", latents)
        else:
            pixels = codec.decode(open(path, "rb").read())
        np.save(path + ".npy", pixels)
    except Exception as exc:
        open(path + ".error", "w").write(f"{type(exc).__name__}: {exc}")
"""


def _decode_spec(codec: str, setting: Setting, plugins: tuple[str, ...], files: list[Path], uses_torch: bool,
                 out: Path) -> str:  # fmt: skip
    """Copy ``files`` into ``out`` and return the fresh decoding process's instructions (JSON)."""
    out.mkdir()
    for f in files:
        (out / f.name).write_bytes(f.read_bytes())
    return json.dumps({
        "codec": codec, "device": setting.device, "threads": setting.threads, "onednn": setting.onednn,
        "uses_torch": uses_torch, "plugins": [str(Path(p).resolve()) for p in plugins],
        "files": [str(out / f.name) for f in files],
    })  # fmt: skip


def _decoded_files(files: list[Path], out: Path) -> dict[Path, tuple[np.ndarray | str, np.ndarray | None]]:
    """What the fresh process wrote into ``out``: per file (pixels or the error, latents or None)."""
    results: dict[Path, tuple[np.ndarray | str, np.ndarray | None]] = {}
    for f in files:
        copy = out / f.name
        error = copy.with_name(copy.name + ".error")
        latents = copy.with_name(copy.name + ".lat.npy")
        pixels = error.read_text() if error.exists() else np.load(copy.with_name(copy.name + ".npy"))
        results[f] = (pixels, np.load(latents) if latents.exists() else None)
    return results


def _fresh_decodes(codec: str, checks: list[tuple[str, Setting]], plugins: tuple[str, ...],
                   files_by_device: dict[str, list[Path]], uses_torch: bool, tmp: Path) -> list[dict]:  # fmt: skip
    """Per check (encoding device, decoding setting): its device's files decoded in a fresh process in that
    setting (per file: pixels or the error, latents or None). As many processes run side by side as this
    process may use CPUs (the settings are about what is computed, not how fast); each dies with bench verify,
    and those still running are killed when one fails or bench verify is interrupted."""
    from bench.store.provenance import available_cpus

    running: list[tuple[str, subprocess.Popen, Path]] = []
    try:
        for n, (enc, setting) in enumerate(checks):
            while len(running) >= max(1, available_cpus()):
                _finish(*running.pop(0))
            out = tmp / f"check{n}"
            spec = _decode_spec(codec, setting, plugins, files_by_device[enc], uses_torch, out)
            name = f"the decoding process ({setting.label()})"
            with open(out / "stderr.txt", "w") as stderr:
                proc = start_program([sys.executable, "-c", _DECODE, spec], stdout=subprocess.DEVNULL, stderr=stderr,
                                     name=name, error=VerifyError)  # fmt: skip
            running.append((name, proc, out))
        while running:
            _finish(*running.pop(0))
    finally:
        for _, proc, _ in running:  # what is left after a failure or Ctrl-C
            proc.kill()
            proc.wait()
    return [_decoded_files(files_by_device[enc], tmp / f"check{n}") for n, (enc, _) in enumerate(checks)]


def _finish(name: str, proc: subprocess.Popen, out: Path) -> None:
    """Wait for the decoding process ``name`` writing into ``out``; :class:`VerifyError` when it fails or runs
    past an hour."""
    try:
        status = proc.wait(timeout=3600)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise VerifyError(f"{name} did not finish within 3600 s") from None
    if status != 0:
        stderr = (out / "stderr.txt").read_text(errors="replace").strip()
        raise VerifyError(f"{name} failed: {stderr[-800:]}")


def _compare(
    expected: tuple[np.ndarray, np.ndarray | None], got: tuple[np.ndarray | str, np.ndarray | None]
) -> Outcome:
    pixels, latents = got
    if isinstance(pixels, str):
        return Outcome(error=f"decoding failed: {pixels}")
    if pixels.shape != expected[0].shape:
        return Outcome(error=f"shape {pixels.shape} instead of {expected[0].shape}")
    outcome = Outcome(samples_total=pixels.size)
    if expected[1] is not None and latents is not None:
        outcome.latents_compared = True
        outcome.latents_total = expected[1].size
        if latents.shape != expected[1].shape:
            outcome.latents_differ = expected[1].size
        else:
            delta = np.abs(latents.astype(np.float64) - expected[1].astype(np.float64))
            outcome.latents_differ = int(np.count_nonzero(delta >= SYMBOL_STEP))
            small = delta[(delta > 0) & (delta < SYMBOL_STEP)]
            outcome.latents_off = int(small.size)
            outcome.latents_max_off = float(small.max()) if small.size else 0.0
    diff = np.abs(pixels.astype(int) - expected[0].astype(int))
    outcome.samples_differ = int(np.count_nonzero(diff))
    outcome.max_difference = int(diff.max()) if diff.size else 0
    return outcome


def _describe(outcome: Outcome) -> str:
    if outcome.error:
        return outcome.error
    parts = []
    if outcome.latents_compared:
        if outcome.desync:
            parts.append(
                f"DESYNC: {outcome.latents_differ} of {outcome.latents_total} latents decoded to other symbols"
            )
        elif outcome.latents_off:
            parts.append(
                f"symbols identical, {outcome.latents_off} latents within {outcome.latents_max_off:.2g} (float means)"
            )
        else:
            parts.append("latents identical")
    if outcome.samples_differ:
        parts.append(f"{outcome.samples_differ} of {outcome.samples_total} samples differ "
                     f"(max difference {outcome.max_difference})")  # fmt: skip
    else:
        parts.append("reconstruction identical")
    return ", ".join(parts)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.4g}%" if whole else "0%"


def _summarise(name: str, report: VerifyReport, files: int, devices: list[str], perturb: bool | None) -> list[str]:
    """The per-codec verdict: decodable everywhere, and how bit-exact the reconstruction is (``perturb``:
    None for a codec that does not run on a device, to which no GPU or CPU settings apply)."""
    outcomes = [o for group in report.outcomes.values() for o in group]
    errors = sum(o.error is not None for o in outcomes)
    desyncs = sum(o.desync for o in outcomes)
    decoded = [o for o in outcomes if o.error is None]
    compared = sum(o.latents_compared for o in decoded)
    bitwise = sum(o.latents_compared and not o.desync and not o.latents_off for o in decoded)
    exact = sum(o.samples_differ == 0 for o in decoded)
    differ = sum(o.samples_differ for o in decoded)
    total = sum(o.samples_total for o in decoded)
    worst = max((o.max_difference for o in decoded), default=0)
    report.decodable_everywhere = errors == 0 and desyncs == 0
    report.bit_exact = report.decodable_everywhere and exact == len(outcomes)
    lines = [
        f"summary of {name}: {files} files, decoded {len(outcomes)} times in fresh processes, "
        f"{len(report.outcomes)} (encoding device, decoding setting) pairs"
        + ("" if perturb is None or "cuda" in devices else "; no GPU here: CPU settings only")
        + ("" if perturb is None or perturb else "; CPU perturbations skipped (--no-perturb)"),
        "  decodable everywhere: "
        + ("yes" if report.decodable_everywhere else "NO")
        + (f" ({errors} decoding errors)" if errors else "")
        + (
            f"; entropy-decoded symbols identical in {compared - desyncs} of {compared} decodes"
            + (f" (latents bit-identical in {bitwise} of them)" if bitwise < compared - desyncs else "")
            if compared
            else "; (the codec does not expose its latents: reconstructions compared)"
        ),
        "  reconstruction: "
        + (
            "bit-exact in every decode"
            if report.bit_exact
            else f"bit-exact in {exact} of {len(outcomes)} decodes; {differ:,} of {total:,} samples differ "
            f"({_percent(differ, total)}), by at most {worst} level{'s' * (worst != 1)}"
        ),
    ]
    return lines


def verify_codec(name: str, **options: Any) -> VerifyReport:
    """Check codec ``name``; ``options`` are the other fields of :class:`VerifyConfig` (``dataset``,
    ``data_dir``, ``max_images``, ``qualities``, ``plugins``, ``offline``)."""
    return verify(VerifyConfig(name, **options))


def verify(config: VerifyConfig) -> VerifyReport:
    """Encode here and decode in a fresh process (and across devices) each image and quality of ``config``."""
    from bench.api.codec_registry import RegistryError, discover
    from bench.data.datasets import resolve_dataset
    from bench.data.images import load_rgb8

    name = config.codec
    try:
        entry = discover(config.plugins).get(name)
    except RegistryError as exc:
        raise VerifyError(str(exc)) from exc
    try:
        entry.cls.fetch(config.offline)  # what the codec needs and may download (pretrained weights, ...)
    except Exception as exc:
        raise VerifyError(f"codec '{name}' is not available here: {exc}") from None
    reason = entry.unavailable_reason()
    if reason:
        raise VerifyError(f"codec '{name}' is not available here: {reason}")
    knob = entry.cls.knob
    try:
        values = knob.ordered(config.qualities if config.qualities is not None else knob.sweep)
        dataset = resolve_dataset(config.dataset, config.data_dir, download=not config.offline)
        items = dataset.images[: config.max_images]
    except Exception as exc:
        raise VerifyError(str(exc)) from exc
    images = [load_rgb8(item.path) for item in items]

    devices = ["cpu"]
    if entry.cls.uses_device:
        import torch

        if torch.cuda.is_available():
            devices.append("cuda")
    perturb = config.perturb and entry.cls.uses_device
    report = VerifyReport()
    with tempfile.TemporaryDirectory(prefix="codec-bench-verify-") as tmp:
        expected: dict[Path, tuple[np.ndarray, np.ndarray | None]] = {}
        files_by_device: dict[str, list[Path]] = {d: [] for d in devices}
        for device in devices:
            codec = entry.create(device)
            for image in images:
                for q in values:
                    path = Path(tmp, f"{device}-{Path(image.name).stem}-q{q:g}.bin")
                    data = codec.encode(image.pixels, q)
                    path.write_bytes(data)
                    if hasattr(codec, "decode_with_latents"):
                        expected[path] = codec.decode_with_latents(data)
                    else:
                        expected[path] = (codec.decode(data), None)
                    files_by_device[device].append(path)
        checks = [(enc, setting) for enc in devices for setting in cpu_settings(perturb and enc == "cpu")]
        checks += [(enc, Setting(dec)) for enc in devices for dec in devices if dec != "cpu"]
        if "cuda" in devices and perturb:  # GPU-encoded files decoded in the CPU's perturbed settings too
            checks = [(e, s) for e, s in checks if not (e == "cuda" and s.device == "cpu")]
            checks += [("cuda", setting) for setting in cpu_settings(True)]
        decodes = _fresh_decodes(name, checks, config.plugins, files_by_device, entry.cls.uses_device, Path(tmp))
        for (enc, setting), decoded in zip(checks, decodes, strict=True):
            files = files_by_device[enc]
            outcomes = []
            for path in files:
                outcome = _compare(expected[path], decoded[path])
                outcomes.append(outcome)
                must_be_exact = setting.device == enc and setting.measuring  # same device, same setting
                bad = (outcome.error is not None or outcome.desync or outcome.max_difference > 1
                       or (must_be_exact and outcome.samples_differ > 0))  # fmt: skip
                report.mismatches += bad
                if bad:
                    report.lines.append(
                        f"MISMATCH  {name} {path.stem.split('-', 1)[1]}: encoded on {enc}, "
                        f"decoded on {setting.label()}: {_describe(outcome)}"
                    )
            report.outcomes[enc, setting.label()] = outcomes
            exact = sum(o.samples_differ == 0 and o.error is None and not o.desync for o in outcomes)
            report.lines.append(
                f"{exact} of {len(outcomes)} identical  {name}: encoded on {enc}, decoded on {setting.label()} in a "
                f"fresh process" + _group_detail(outcomes)
            )
    files = sum(map(len, files_by_device.values()))
    report.lines += _summarise(name, report, files, devices, perturb if entry.cls.uses_device else None)
    return report


def _group_detail(outcomes: list[Outcome]) -> str:
    decoded = [o for o in outcomes if o.error is None]
    parts = []
    if any(o.latents_compared for o in decoded):
        desyncs = sum(o.desync for o in decoded)
        off = sum(o.latents_off > 0 and not o.desync for o in decoded)
        if desyncs:
            parts.append(f"DESYNC in {desyncs}")
        parts.append(
            f"symbols identical in {len(decoded) - desyncs}, latents within "
            f"{max(o.latents_max_off for o in decoded):.2g} in {off} (float means)"
            if off
            else ("latents identical" if not desyncs else "")
        )
        parts = [p for p in parts if p]
    differ = sum(o.samples_differ for o in decoded)
    if differ:
        total = sum(o.samples_total for o in decoded)
        worst = max(o.max_difference for o in decoded)
        parts.append(f"{differ:,} of {total:,} samples differ ({_percent(differ, total)}, max {worst})")
    errors = len(outcomes) - len(decoded)
    if errors:
        parts.append(f"{errors} failed to decode")
    return f": {', '.join(parts)}" if parts else ""
