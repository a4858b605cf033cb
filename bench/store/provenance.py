"""What produced a result: software versions, the lock file, the machine, thread settings and the git commit.

Run as ``python -m bench.store.provenance [LOCK]``, it lists the packages whose installed versions differ
from a lock file (default: ``requirements/run.txt`` of this checkout); ``make test-latest`` does.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.api.versions import installed_version

__all__ = [
    "environment",
    "git_state",
    "version_text",
    "lock_state",
    "timestamp",
    "cpu_model",
    "available_cpus",
    "THREAD_ENV",
    "WORKER_THREADS",
]

#: Environment variables that fix the thread count of numerical libraries; workers set them to 1.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPJ_NUM_THREADS")
#: Thread settings of every measuring process (applied by ``bench.executors.measure.pin_threads``).
WORKER_THREADS = {"codecs": 1, "opencv": 1, **{name: 1 for name in THREAD_ENV}}

_PACKAGES = (
    "codec-bench",
    "numpy",
    "pillow",
    "pillow-heif",
    "imagecodecs",
    "opencv-python-headless",
    "tqdm",
    "torch",
    "compressai",
)


def timestamp(timespec: str = "milliseconds") -> str:
    """Now, in UTC, as ISO 8601 to ``timespec`` (``2026-12-06T16:24:00.123+00:00``): when a run, a
    scoring, a training or a report was made."""
    return datetime.now(UTC).isoformat(timespec=timespec)


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: Where a built codec-bench (a wheel, an sdist) keeps the commit it was built from (``setup.py`` writes it).
BUILD_RECORD = "_build.json"


def git_state(folder: Path | None = None) -> dict[str, Any]:
    """Commit and dirtiness of the codec-bench source: of its git checkout when the package runs from one
    (``folder``: the checkout's root, default the folder above ``bench/``), else what the build of the
    installed package recorded (``source: "build"``); ``None`` values when neither is known."""
    folder = folder or Path(__file__).resolve().parents[2]
    if (folder / ".git").exists():
        try:
            commit = subprocess.run(
                ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            status = subprocess.run(
                ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, timeout=10, check=True,
            ).stdout  # fmt: skip
            return {"commit": commit, "dirty": bool(status.strip())}
        except (OSError, subprocess.SubprocessError):
            pass
    return _built_from()


def _built_from() -> dict[str, Any]:
    """The commit the installed package was built from (:data:`BUILD_RECORD`), or ``None`` values."""
    record = Path(__file__).resolve().parents[1] / BUILD_RECORD
    try:
        built = json.loads(record.read_text(encoding="utf-8"))
        return {"commit": str(built["commit"]), "dirty": bool(built["dirty"]), "source": "build"}
    except (OSError, ValueError, KeyError, TypeError):
        return {"commit": None, "dirty": None}


def version_text() -> str:
    """``bench --version``: ``codec-bench 0.2.0 (commit 1a2b3c4d5e6f, with uncommitted changes)``."""
    from bench import __version__

    state = git_state()
    if not state["commit"]:
        return f"codec-bench {__version__} (commit unknown: neither a git checkout nor a build that recorded one)"
    changes = ", with uncommitted changes" if state["dirty"] else ""
    return f"codec-bench {__version__} (commit {state['commit'][:12]}{changes})"


#: The lock file of the packages ``bench run`` needs, in a checkout (``make lock`` writes it).
RUN_LOCK = Path(__file__).resolve().parents[2] / "requirements" / "run.txt"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _pins(lock: Path) -> dict[str, str]:
    """``name == version`` lines of a pip requirements lock file (hashes, markers and comments ignored)."""
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if found := _PIN.match(line):
            pins[re.sub(r"[-_.]+", "-", found[1]).lower()] = found[2]
    return pins


def lock_state(lock: Path = RUN_LOCK) -> dict[str, Any] | None:
    """The lock file's name and sha256, and whether every package it pins is installed at that version
    (``differences``: package -> ``"installed X, locked Y"``); ``None`` outside a checkout that has one."""
    if not lock.is_file():
        return None
    differences = {}
    for name, pinned in _pins(lock).items():
        installed = installed_version(name) or "nothing"
        if installed != pinned:
            differences[name] = f"installed {installed}, locked {pinned}"
    return {
        "file": f"{lock.parent.name}/{lock.name}",
        "sha256": hashlib.sha256(lock.read_bytes()).hexdigest(),
        "matches": not differences,
        **({"differences": differences} if differences else {}),
    }


def _package_versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        if (version := installed_version(name)) is not None:
            out[name] = version
    return out


def _library_versions() -> dict[str, str]:
    """Versions of the native libraries bundled with the Python packages."""
    out: dict[str, str] = {}
    try:
        from PIL import features

        for label, feature in (
            ("libjpeg-turbo", "libjpeg_turbo"),
            ("OpenJPEG", "jpg_2000"),
            ("libwebp", "webp"),
            ("libavif", "avif"),
            ("zlib", "zlib"),
        ):
            version = features.version(feature)
            if version:
                out[label] = version
        from PIL import AvifImagePlugin

        if features.check("avif"):
            out["libavif codecs"] = AvifImagePlugin._avif.codec_versions()
    except Exception as exc:  # provenance must never break a run
        out["Pillow features"] = f"unavailable: {exc}"
    try:
        import pillow_heif

        info = pillow_heif.libheif_info()
        out["libheif"] = pillow_heif.libheif_version()
        out.update({f"libheif encoder {k}": v for k, v in info.get("encoders", {}).items()})
        out.update({f"libheif decoder {k}": v for k, v in info.get("decoders", {}).items()})
    except Exception as exc:
        out["libheif"] = f"unavailable: {exc}"
    try:
        import imagecodecs

        out["libjxl"] = imagecodecs.jpegxl_version().removeprefix("libjxl ")
    except Exception as exc:
        out["libjxl"] = f"unavailable: {exc}"
    # OpenCV (MS-SSIM filtering) is not imported by the runner's process; its wheel version says it
    out["OpenCV"] = installed_version("opencv-python-headless") or "not installed"
    return out


def environment() -> dict[str, Any]:
    """A JSON-able description of the software and machine this process runs on."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": available_cpus(),
        "packages": _package_versions(),
        "lock": lock_state(),
        "libraries": _library_versions(),
        "worker_threads": WORKER_THREADS,
    }


if __name__ == "__main__":
    state = lock_state(Path(sys.argv[1]) if len(sys.argv) > 1 else RUN_LOCK)
    if state is None:
        sys.exit(f"no lock file at {sys.argv[1] if len(sys.argv) > 1 else RUN_LOCK}")
    print(
        f"{state['file']} (sha256 {state['sha256'][:12]}): "
        + ("every pinned version installed" if state["matches"] else f"{len(state['differences'])} packages differ")
    )
    for name, what in state.get("differences", {}).items():
        print(f"  {name}: {what}")
