"""Codecs that are command-line programs: an encoder and a decoder exchanging files.

A subclass names its two programs and builds their argument lists; :class:`ExternalCodec` finds
the programs, writes the input image as PNG, runs the encoder, returns the bitstream file's bytes
(all of them: that file is everything the decoder gets), and for decoding writes those bytes to a
file, runs the decoder and reads its PNG output.

Programs are looked up as ``$BENCH_<PROGRAM>`` (e.g. ``BENCH_BPGENC=/opt/libbpg/bpgenc``) or on
``PATH``. Measured times include writing/reading the PNG files and starting the process, as with
any codec used through its command-line tool.
"""

from __future__ import annotations

import abc
import io
import os
import re
import shutil
import subprocess
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
from PIL import Image

from bench.api.codec import Codec, CodecError, check_rgb8
from bench.api.spawner import run_measured

__all__ = ["ExternalCodec", "find_program"]


def find_program(program: str) -> str | None:
    """Absolute path of ``program`` from ``$BENCH_<PROGRAM>`` or ``PATH``, or ``None``."""
    override = os.environ.get("BENCH_" + re.sub(r"\W", "_", program).upper())
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which(program)


class ExternalCodec(Codec):
    """Base class of codecs run as an encoder and a decoder program.

    Subclasses set ``encoder``, ``decoder`` (program names), ``install_hint`` and implement
    :meth:`encode_args` and :meth:`decode_args`.
    """

    encoder: ClassVar[str]
    decoder: ClassVar[str]
    install_hint: ClassVar[str] = ""
    timeout_s: ClassVar[float] = 600.0
    version_args: ClassVar[tuple[str, ...]] = ("--version",)

    @abc.abstractmethod
    def encode_args(self, quality: float, src: Path, dst: Path) -> list[str]:
        """Arguments for the encoder reading the PNG ``src`` and writing the bitstream ``dst``."""

    @abc.abstractmethod
    def decode_args(self, src: Path, dst: Path) -> list[str]:
        """Arguments for the decoder reading the bitstream ``src`` and writing the PNG ``dst``."""

    #: file names of the encoder's input and the decoder's output; their format is what
    #: :meth:`write_input` writes and :meth:`read_output` reads (PNG unless a subclass overrides both)
    input_name: ClassVar[str] = "input.png"
    output_name: ClassVar[str] = "decoded.png"

    def write_input(self, image: np.ndarray, path: Path) -> None:
        """Write the RGB uint8 ``image`` where the encoder reads it (8-bit PNG, uncompressed)."""
        Image.fromarray(image).save(path, format="PNG", compress_level=0)

    def read_output(self, path: Path) -> np.ndarray:
        """The decoder's output file as an H x W x 3 uint8 RGB array (an 8-bit RGB PNG)."""
        with Image.open(io.BytesIO(path.read_bytes())) as im:
            if im.mode != "RGB" or any(";16" in str(t.args) for t in im.tile or ()):
                raise CodecError(f"{self.decoder} wrote a {im.mode} PNG with tiles {im.tile}; expected 8-bit RGB")
            return np.asarray(im.convert("RGB"))

    @classmethod
    def unavailable_reason(cls) -> str | None:
        missing = [p for p in (cls.encoder, cls.decoder) if find_program(p) is None]
        if not missing:
            return None
        names = " and ".join(missing)
        envs = ", ".join("BENCH_" + re.sub(r"\W", "_", p).upper() for p in missing)
        return f"{names} not found on PATH (or {envs}). {cls.install_hint}".strip()

    def _run(self, program: str, args: list[str], output: Path, what: str) -> None:
        """Run ``program`` with ``args`` (it must write ``output``); record its peak resident memory as
        ``<what>_program_peak_rss_mb`` (``what``: ``encode`` or ``decode``) and the most of it that can be
        the starting helper's (``program_rss_floor_mb``, :mod:`bench.api.spawner`) for :meth:`last_stats`."""
        path = find_program(program)
        if path is None:
            raise CodecError(self.unavailable_reason() or f"{program} not found")
        try:  # the program dies with its worker (bench.api.processes.die_with_parent)
            proc = run_measured([path, *args], timeout_s=self.timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise CodecError(f"{program} did not finish within {self.timeout_s:g} s") from exc
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).decode(errors="replace").strip()[-600:]
            raise CodecError(f"{program} exited with status {proc.returncode}: {tail}")
        if not output.is_file():
            raise CodecError(f"{program} exited successfully but wrote no {output.name}")
        if proc.peak_rss_mb is not None:
            self.__dict__["_stats"] = {f"{what}_program_peak_rss_mb": proc.peak_rss_mb,
                                       "program_rss_floor_mb": proc.floor_mb}  # fmt: skip

    def last_stats(self) -> dict[str, Any]:
        """The peak resident memory (MiB) of the program the last call ran (``encode_program_peak_rss_mb``
        or ``decode_program_peak_rss_mb``) and ``program_rss_floor_mb``."""
        return self.__dict__.pop("_stats", {})

    def encode(self, image: np.ndarray, quality: float) -> bytes:
        check_rgb8(image)
        with tempfile.TemporaryDirectory(prefix="codec-bench-") as tmp:
            src, dst = Path(tmp, self.input_name), Path(tmp, f"bitstream.{self.extension}")
            self.write_input(image, src)
            self._run(self.encoder, self.encode_args(quality, src, dst), dst, "encode")
            return dst.read_bytes()

    def decode(self, data: bytes) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="codec-bench-") as tmp:
            src, dst = Path(tmp, f"bitstream.{self.extension}"), Path(tmp, self.output_name)
            src.write_bytes(data)
            self._run(self.decoder, self.decode_args(src, dst), dst, "decode")
            return self.read_output(dst)

    def program_version(self, program: str) -> str:
        """Version string printed by ``program`` (first match of 'v1.2.3'-like text, else first line)."""
        path = find_program(program)
        if path is None:
            return "not found"
        try:
            proc = subprocess.run([path, *self.version_args], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unknown ({exc})"
        text = (proc.stdout + proc.stderr).decode(errors="replace")
        match = re.search(r"version\s+v?(\d[\w.+-]*)|\bv(\d+\.\d+[\w.+-]*)", text, re.IGNORECASE)
        if match:
            return match.group(1) or match.group(2)
        return text.strip().splitlines()[0] if text.strip() else "unknown"

    @cached_property
    def _versions(self) -> dict[str, str]:
        progs = dict.fromkeys((self.encoder, self.decoder))
        return {p: self.program_version(p) for p in progs}

    def versions(self) -> Mapping[str, str]:
        return self._versions

    def program_paths(self) -> dict[str, Any]:
        return {p: find_program(p) for p in dict.fromkeys((self.encoder, self.decoder))}
