"""Shared fixtures. Data comes from ../shared (beside the checkout) or $BENCH_DATA; nothing is downloaded.

Locally, tests that need data or programs that are missing are skipped; under CI (``CI=true``) they
fail instead, so a CI machine that lacks them cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip the test when ``condition`` is false, or fail it under CI."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required under CI: {reason}")
        pytest.skip(reason)


def data_root() -> Path:
    env = os.environ.get("BENCH_DATA")
    return Path(env) if env else SHARED / "datasets"


def write_synthetic_images(folder: Path, count: int, seed: int = 7) -> Path:
    """``count`` noisy 128 x 96 gradient images ``img0.png``, ``img1.png``, ... in ``folder`` (made)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:96, 0:128]
    for i in range(count):
        pixels = np.stack([(2 * x + 40 * i) % 256, (2 * y) % 256, (x + y + 90 * i) % 256], axis=-1).astype(float)
        pixels += rng.normal(0, 12, pixels.shape)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a test module (the metric references and ours: quicker on a busy machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def kodak_dir() -> Path:
    folder = data_root() / "kodak"
    require((folder / "kodim24.png").is_file(), f"Kodak not found in {folder}")
    return folder


@pytest.fixture(scope="session")
def compressai_reference() -> Path:
    folder = SHARED / "reference" / "compressai" / "kodak"
    require((folder / "jpeg.json").is_file(), f"CompressAI reference results not found in {folder}")
    return folder


@pytest.fixture(scope="session")
def kodim01(kodak_dir: Path) -> np.ndarray:
    return np.asarray(Image.open(kodak_dir / "kodim01.png").convert("RGB"))


@pytest.fixture(scope="session")
def kodak_crop(kodim01: np.ndarray) -> np.ndarray:
    """A 256 x 384 crop of kodim01 (real photographic content, cheap to code)."""
    return np.ascontiguousarray(kodim01[128:384, 192:576])


@pytest.fixture
def small_dataset(tmp_path: Path, kodak_dir: Path) -> Path:
    """A folder of four 192 x 256 PNG crops of Kodak images."""
    folder = tmp_path / "small"
    folder.mkdir()
    for i in (1, 4, 13, 23):
        im = np.asarray(Image.open(kodak_dir / f"kodim{i:02d}.png").convert("RGB"))
        Image.fromarray(np.ascontiguousarray(im[:192, :256])).save(folder / f"crop{i:02d}.png")
    return folder


@pytest.fixture(scope="session")
def crops(tmp_path_factory, kodak_dir) -> Path:
    """Seven 160 x 224 crops of Kodak images: a flat folder for `bench train` (the last one validates)."""
    folder = tmp_path_factory.mktemp("crops")
    for i in range(1, 8):
        image = np.asarray(Image.open(kodak_dir / f"kodim{i:02d}.png").convert("RGB"))
        Image.fromarray(np.ascontiguousarray(image[:160, :224])).save(folder / f"crop{i}.png")
    return folder


def bench_cli(
    *args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the ``bench`` command line in a fresh process; returns the completed process (text output)."""
    full_env = {**os.environ, "BENCH_DATA": str(data_root()), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout,
    )  # fmt: skip


def have_program(name: str) -> bool:
    return shutil.which(name) is not None


#: the VVC programs of ../shared/tools (README there): environment variable -> path
SHARED_VVC_PROGRAMS = {
    "BENCH_ENCODERAPP": SHARED / "tools" / "vtm" / "bin" / "EncoderApp",
    "BENCH_DECODERAPP": SHARED / "tools" / "vtm" / "bin" / "DecoderApp",
    "BENCH_VVENCAPP": SHARED / "tools" / "vvc" / "bin" / "vvencapp",
    "BENCH_VVDECAPP": SHARED / "tools" / "vvc" / "bin" / "vvdecapp",
}


@pytest.fixture
def vvc_programs(monkeypatch) -> dict[str, str]:
    """VTM and VVenC/VVdeC: the ``BENCH_*`` variables already set, else the builds in ../shared/tools."""
    chosen = {}
    for variable, shared in SHARED_VVC_PROGRAMS.items():
        path = os.environ.get(variable) or str(shared)
        require(os.access(path, os.X_OK), f"{variable}: {path} is not an executable program")
        monkeypatch.setenv(variable, path)
        chosen[variable] = path
    return chosen
