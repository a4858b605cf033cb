"""Shared fixtures and helpers of the test suite.

The folders of tests/ mirror the packages: the tests of ``bench/<package>/<module>.py`` are in
``tests/<package>/``, in a file named after the module where they test one (``tests/run/test_score.py`` for
``bench/run/score.py``); ``tests/codecs/`` holds those of ``bench_codecs``, ``tests/cli/test_cli_<command>.py``
those about what a command prints, and tests/ itself those of the whole project (test_structure.py,
test_layout.py) and of these helpers (test_conftest.py); ``tests/perf/``: benchmark scripts run by hand.
Test file names are unique across the folders (no ``__init__.py``: ``from conftest import ...`` works in all).

Data comes from ../shared (beside the checkout) or $BENCH_DATA; nothing is downloaded.

Locally, tests that need data, programs or modules that are missing are skipped; under CI (``CI=true``)
they fail instead, so a CI machine that lacks them cannot pass silently: :func:`require`, and
:func:`require_module` for the modules of the declared requirements.

Helper modules beside this file: ``http_server.py`` (the local HTTP server of :func:`http_server`),
``rd_data.py`` (synthetic rate-distortion data), ``ray_cluster.py`` (a real multi-node Ray cluster, the
one of :func:`cluster`), ``sessions.py`` (the processes a killed command left behind); ``fixtures/``:
committed run folders and families.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from bench.api.extra_columns import extra_column_names

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# --- what a test requires -------------------------------------------------------------------------------


def require(condition: bool, reason: str) -> None:
    """Skip the test when ``condition`` is false, or fail it under CI."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required under CI: {reason}")
        pytest.skip(reason)


def require_module(name: str, why: str) -> ModuleType:
    """Import module ``name`` and return it. Where it cannot be imported, skip (the test that calls this, or
    the whole test file when called at its top, as ``pytest.importorskip`` does) or, under CI, fail: at the
    top of a test file that is a collection error, which fails the run. For the modules of the declared
    requirements (pyproject.toml's dependencies and ``test`` extra); ``why`` says what the tests use it for."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        reason = f"{name} cannot be imported ({exc}): {why}"
        if IN_CI:
            pytest.fail(f"required under CI: {reason}", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


def have_program(name: str) -> bool:
    return shutil.which(name) is not None


# --- data --------------------------------------------------------------------------------------------------


def data_root() -> Path:
    env = os.environ.get("BENCH_DATA")
    return Path(env) if env else SHARED / "datasets"


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
def kodim20(kodak_dir: Path) -> np.ndarray:
    """A plane in a sky of low variance, flat after JPEG: where float32 references round badly."""
    return np.asarray(Image.open(kodak_dir / "kodim20.png").convert("RGB"))


@pytest.fixture(scope="session")
def kodak_crop(kodim01: np.ndarray) -> np.ndarray:
    """A 256 x 384 crop of kodim01 (real photographic content, cheap to code)."""
    return np.ascontiguousarray(kodim01[128:384, 192:576])


@pytest.fixture(scope="session")
def kodak(kodak_dir):
    """Kodak images by name (``kodak("kodim23")``), each read once."""
    cache: dict[str, np.ndarray] = {}

    def get(name: str) -> np.ndarray:
        if name not in cache:
            cache[name] = np.asarray(Image.open(kodak_dir / f"{name}.png").convert("RGB"))
        return cache[name]

    return get


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


@pytest.fixture
def tiny_folder(tmp_path) -> Path:
    """A folder of two 48 x 64 :func:`gradient` PNGs, ``t0.png`` and ``t1.png``."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    for i in range(2):
        (folder / f"t{i}.png").write_bytes(pillow_bytes(gradient(48, 64, seed=i), "PNG"))
    return folder


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


def gradient(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    """A small RGB test image: smooth ramps plus a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) * 4 % 256], -1)
    return np.clip(rgb + rng.integers(-3, 4, rgb.shape), 0, 255).astype(np.uint8)


def pillow_bytes(arr: np.ndarray, fmt: str, mode: str | None = None, **kw) -> bytes:
    """``arr`` saved by Pillow in format ``fmt``."""
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, fmt, **kw)
    return buf.getvalue()


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` coded by Pillow's JPEG at ``quality`` and decoded: the distorted image of the metric tests."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``image[top : top + height, left : left + width]`` of ``box = (top, left, height, width)``, contiguous."""
    top, left, height, width = box
    return np.ascontiguousarray(image[top : top + height, left : left + width])


def relative(ours: float, theirs: float) -> float:
    """The relative difference of ``ours`` from ``theirs``."""
    return abs(ours - theirs) / abs(theirs)


# --- the command line, runs and their files ----------------------------------------------------------------

#: The timing and memory columns of records.csv and summary.csv (they differ from run to run).
TIMING = ("encode_s", "decode_s", *extra_column_names(varies=True))


def bench_cli(
    *args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the ``bench`` command line in a fresh process; returns the completed process (text output)."""
    full_env = {**os.environ, "BENCH_DATA": str(data_root()), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout,
    )  # fmt: skip


def quiet_run(**kwargs):
    """``bench.run.runner.run`` of ``RunConfig(**kwargs)`` (one job unless ``jobs`` says), printing nothing."""
    from bench.run.runner import RunConfig, run

    kwargs.setdefault("jobs", 1)
    return run(RunConfig(**kwargs), progress=False, echo=lambda text: None)


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file (records.csv, summary.csv, ...) as dictionaries."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def without_timings(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def doc_example(page: str, language: str = "python") -> str:
    """The first ``language`` code block of the documentation page ``docs/<page>`` (``guides/add-codec.md``):
    the examples the guides show are the ones the tests run."""
    text = (REPO / "docs" / page).read_text(encoding="utf-8")
    return re.search(rf"```{language}\n(.*?)```", text, re.S).group(1)


#: A plugin codec coding PNG (``png_plugin_source`` fills in its name, class and libfoo version).
PNG_PLUGIN = """
import io
import numpy as np
import PIL
from PIL import Image
from bench.api.codec import Codec, Knob, register_codec


@register_codec
class {cls}(Codec):
    name = "{name}"
    extension = "png"
    knob = Knob("level", 0, 9, sweep=(1, 9))

    def encode(self, image, quality):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "PNG", compress_level=int(quality))
        return buf.getvalue()

    def decode(self, data):
        return np.asarray(Image.open(io.BytesIO(data), formats=["PNG"]).convert("RGB"))

    def settings(self):
        return {{"threads": 1}}

    def versions(self):
        return {{"Pillow": PIL.__version__, "libfoo": "{libfoo}"}}
"""


def png_plugin_source(name: str = "pngtest", cls: str = "PngTest", libfoo: str = "1.0") -> str:
    return PNG_PLUGIN.format(name=name, cls=cls, libfoo=libfoo)


#: Two plugin metrics that a run cannot compute per image: one unavailable (its weights are missing), one
#: computed over a whole dataset.
NOT_HERE = """
from bench.api.metric import DatasetMetric, Metric, register_metric


@register_metric
class NeedsWeights(Metric):
    name = "needs_weights"
    label = "NW"
    axis_label = "NW"
    convention = "needs weights that are not here"

    @classmethod
    def unavailable_reason(cls):
        return "weights nw.pth not found in ~/.cache/nw (download them first)"

    def compute(self, ref, dist):
        raise AssertionError("an unavailable metric is never computed")


@register_metric
class DatasetWide(DatasetMetric):
    name = "dataset_wide"
    label = "DW"
    axis_label = "DW"
    features = "dw"
    convention = "over a whole dataset"

    def extract(self, image):
        raise AssertionError("not measured in these tests")

    def aggregate(self, ref, dist):
        raise AssertionError("not measured in these tests")
"""

# --- runs made once per session (read, or copied before they are changed) --------------------------------

#: Records of each of :func:`saved_runs`: 2 codecs x 2 qualities x 2 images.
SAVED_RUN_RECORDS = 8


@pytest.fixture(scope="session")
def saved_runs(tmp_path_factory) -> dict[str, Path]:
    """Small runs made once: two synthetic 96 x 128 images (``images``), jpeg and webp at qualities 30 and
    70, PSNR-RGB only, with saved bitstreams (``bitstreams``), with saved reconstructions
    (``reconstructions``), with neither (``neither``), and one that computed Y-PSNR and the MAE metric of the guide to adding a metric
    plugin (``mae``, the plugin file) from the start (``reference``: what scoring must reproduce)."""
    root = tmp_path_factory.mktemp("score")
    images = write_synthetic_images(root / "images", 2)
    plugin = root / "mae.py"
    plugin.write_text(doc_example("guides/add-metric.md"))
    common = dict(dataset=str(images), codecs=("jpeg", "webp"), qualities=(30, 70), jobs=2, metrics=("psnr_rgb",))
    folders = {"images": images, "mae": plugin}
    for name, extra in (
        ("bitstreams", dict(save_bitstreams=True)),
        ("reconstructions", dict(save_reconstructions=True)),
        ("neither", {}),
        ("reference", dict(metrics=("psnr_rgb", "psnr_y", "mae"), plugins=(str(plugin),))),
    ):
        folders[name] = root / name
        made = quiet_run(**{**common, **extra, "out": folders[name]})
        assert made.ok and len(made.records) == SAVED_RUN_RECORDS
    return folders


@pytest.fixture
def small_run(tmp_path, small_dataset):
    """jpeg and webp at qualities 10, 30, 60 and 90 on :func:`small_dataset`, in ``small-run``."""
    out = tmp_path / "small-run"
    quiet_run(dataset=str(small_dataset), codecs=("jpeg", "webp"), qualities=(10, 30, 60, 90), out=out, jobs=2)
    return out


#: The qualities of :func:`trust_run`.
TRUST_QUALITIES = (10, 30, 60, 90)

# a byte-identical copy of jpeg that fails on the one image 240 pixels wide
JPEGCOPY_PLUGIN = '''
"""jpegcopy: jpeg, except that it refuses images 240 pixels wide."""
from bench.api.codec import register_codec
from bench_codecs.jpeg import JpegCodec


@register_codec
class JpegCopy(JpegCodec):
    name = "jpegcopy"

    def encode(self, image, quality):
        if image.shape[1] == 240:
            raise ValueError("jpegcopy cannot code 240-column images")
        return super().encode(image, quality)
'''


@pytest.fixture(scope="session")
def trust_run(tmp_path_factory, kodak_dir) -> Path:
    """jpeg, jpegcopy and webp on five images: three 192 x 256 crops, crop23 at 192 x 240 (jpegcopy fails on
    it) and tiny.png, 128 x 192 (MS-SSIM is undefined for it)."""
    base = tmp_path_factory.mktemp("trust")
    data = base / "data"
    data.mkdir()
    for i, width in ((1, 256), (4, 256), (13, 256), (23, 240)):
        im = np.asarray(Image.open(kodak_dir / f"kodim{i:02d}.png").convert("RGB"))
        Image.fromarray(np.ascontiguousarray(im[:192, :width])).save(data / f"crop{i:02d}.png")
    im = np.asarray(Image.open(kodak_dir / "kodim07.png").convert("RGB"))
    Image.fromarray(np.ascontiguousarray(im[200:328, 300:492])).save(data / "tiny.png")
    plugin = base / "jpegcopy.py"
    plugin.write_text(textwrap.dedent(JPEGCOPY_PLUGIN))
    quiet_run(dataset=str(data), codecs=("jpeg", "jpegcopy", "webp"), qualities=TRUST_QUALITIES,
              out=base / "trust-run", jobs=2, plugins=(str(plugin),))  # fmt: skip
    return base / "trust-run"


# --- learned families trained once per session ----------------------------------------------------------

#: `bench train` options of a tiny, quick family (after --data, --out, --lambdas, --steps, ...).
TINY = ["--arch", "hyperprior", "--N", "8", "--M", "8", "--batch-size", "2", "--crop", "64", "--threads", "1",
        "--device", "cpu", "--no-progress"]  # fmt: skip


@pytest.fixture(scope="session")
def tiny_family(tmp_path_factory, crops) -> Path:
    """A portable hyperprior family ``tiny`` of two models (4 steps each) trained on :func:`crops`."""
    require_module("compressai", "bench train's models")
    out = tmp_path_factory.mktemp("family") / "tiny"
    result = bench_cli("train", "--data", str(crops), "--out", str(out), "--lambdas", "0.05,0.01", "--steps", "4",
                       "--val-every", "2", *TINY)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "use it with: bench run --plugin" in result.stdout
    return out


@pytest.fixture(scope="session")
def mean_scale_family(tmp_path_factory, crops) -> Path:
    """A portable mean-scale family ``tinyms`` of two models (4 steps each) trained on :func:`crops`."""
    require_module("compressai", "bench train's models")
    out = tmp_path_factory.mktemp("family") / "tinyms"
    result = bench_cli("train", "--data", str(crops), "--out", str(out), "--lambdas", "0.05,0.01", "--steps", "4",
                       "--val-every", "2", "--arch", "mean-scale", "--N", "8", "--M", "8", "--batch-size", "2",
                       "--crop", "64", "--threads", "1", "--device", "cpu", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a test module (the metric references and ours: quicker on a busy machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- programs -----------------------------------------------------------------------------------------------

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


@pytest.fixture
def fake_program(tmp_path):
    """Writes fake programs: ``fake_program(name, script, folder=None)`` writes the shell script ``script``
    (a ``#!/bin/sh`` line first unless it has one) as the executable file ``<folder>/<name>`` (``folder``:
    ``tmp_path`` unless given, made if missing) and returns its path."""

    def write(name: str, script: str, folder: Path | None = None) -> Path:
        folder = Path(folder) if folder is not None else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        program = folder / name
        program.write_text(script if script.startswith("#!") else "#!/bin/sh\n" + script)
        program.chmod(0o755)
        return program

    return write


# --- a local HTTP server ------------------------------------------------------------------------------------


@pytest.fixture
def http_server(monkeypatch):
    """Starts local HTTP servers on 127.0.0.1 (tests/http_server.py): ``http_server(files=None, folder=None,
    prefix="")`` returns a started ``LocalHTTPServer`` serving ``files`` (path -> bytes) and the files of
    ``folder`` under ``/<prefix>/``, recording the paths asked for in ``requests``, failing as its ``mode``
    and ``modes`` say; every server it started stops after the test. ``no_proxy`` covers 127.0.0.1."""
    from http_server import LocalHTTPServer

    monkeypatch.setenv("no_proxy", "127.0.0.1")
    started: list[LocalHTTPServer] = []

    def start(files: dict[str, bytes] | None = None, folder: Path | None = None, prefix: str = "") -> LocalHTTPServer:
        server = LocalHTTPServer(files, folder, prefix).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# --- the Ray cluster ----------------------------------------------------------------------------------------

_RAY_CLUSTER: list = []  # the running LocalCluster, if any


@pytest.fixture
def cluster():
    """The suite's real Ray cluster on this machine (tests/ray_cluster.py): a head node of one CPU and a
    second node of one CPU that declares a GPU to Ray (which it need not have: Ray schedules by what
    nodes declare). One cluster for the whole session: started by the first test that asks for it,
    stopped after the last one (``pytest_runtest_teardown`` below). A test may add nodes; it kills
    those it added."""
    require(importlib.util.find_spec("ray") is not None, "Ray is not installed (pip install 'codec-bench[ray]')")
    if not _RAY_CLUSTER:
        from ray_cluster import LocalCluster, wait_for_nodes

        running = LocalCluster(head_cpus=1)
        try:
            running.add_node(cpus=1, gpus=1)
            wait_for_nodes(running.address, 2)
        except BaseException:
            running.stop()
            raise
        _RAY_CLUSTER.append(running)
    return _RAY_CLUSTER[0]


def _stop_cluster() -> None:
    while _RAY_CLUSTER:
        _RAY_CLUSTER.pop().stop()


def pytest_configure(config) -> None:
    """Ctrl-C reaches the processes the tests start: a suite run as a background job of a shell without job
    control (``cmd &`` in a script, some CI runners) inherits SIGINT ignored, and every program it starts
    would too (an ignored signal stays ignored across exec), so the tests of what Ctrl-C does would fail."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_runtest_teardown(item, nextitem) -> None:
    """Stop the Ray cluster after the last test of the session that uses it."""
    if _RAY_CLUSTER:
        items = item.session.items
        later = items[items.index(item) + 1 :] if item in items else []
        if not any("cluster" in getattr(other, "fixturenames", ()) for other in later):
            _stop_cluster()


def pytest_sessionfinish(session, exitstatus) -> None:
    _stop_cluster()
