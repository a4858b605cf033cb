"""VMAF and PSNR-HVS / PSNR-HVS-M (bench/metrics/vmaf.py) equal their implementations' own outputs.

``vmaf`` runs libvmaf through an ffmpeg built with it (the one ``imageio-ffmpeg`` ships, or
``$BENCH_FFMPEG``); it converts RGB to BT.709 full-range YCbCr 4:4:4 itself. Its values are compared
with that ffmpeg's own command line reading PNG files of the same pairs and converting them with its
``zscale`` filter (zimg; ``matrix=709:range=full``): another conversion, by another library, so a
conversion slip (another matrix, range or rounding, the inputs swapped) shows as another value.

``psnr_hvs`` and ``psnr_hvs_m`` are the ``psnr_hvsm`` package's values: compared with its RGB entry
point (``compute_all_metrics``, its own BT.601 conversion) and with its command line
(``python -m psnr_hvsm``) on Kodak crops and their JPEG versions.

Without ffmpeg with libvmaf or without ``psnr_hvsm`` those tests are skipped, or fail under CI.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import math
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import bench.metrics.vmaf as mv
from bench.api.metric import MetricError
from bench.api.metric_registry import compute, discover_metrics
from bench.metrics.vmaf import PSNR_HVS_MIN_SIDE, VMAF_MIN_SIDE, VmafError, bt709_yuv444, psnr_hvs_hvsm, vmaf
from conftest import bench_cli, crop, jpeg_roundtrip, require


def _case_id(case) -> str:
    name, box, quality = case
    return f"{name}-{box[2]}x{box[3]}-q{quality}"


def pair(kodak, case) -> tuple[np.ndarray, np.ndarray]:
    name, box, quality = case
    ref = crop(kodak(name), box)
    return ref, jpeg_roundtrip(ref, quality)


# -------------------------------------------------------------------------------------------------- VMAF
ZSCALE = "zscale=matrix=709:range=full,format=yuv444p"


@pytest.fixture
def ffmpeg() -> str:
    """The ffmpeg the metric uses (with libvmaf)."""
    reason = mv._vmaf_unavailable()
    require(reason is None, f"ffmpeg with libvmaf (pip install imageio-ffmpeg): {reason}")
    return mv.vmaf_program()


def ffmpeg_run(ffmpeg: str, tmp_path: Path, *args: str) -> None:
    proc = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)  # fmt: skip
    if "No such filter: 'zscale'" in proc.stderr:
        require(False, f"{ffmpeg} has no zscale filter (libzimg), which the reference conversion uses")
    assert proc.returncode == 0, proc.stderr


def program_vmaf(ffmpeg: str, tmp_path: Path, ref: np.ndarray, dist: np.ndarray) -> float:
    """What ffmpeg's own command line gives for PNG files of the pair, converted by its zscale filter."""
    Image.fromarray(ref).save(tmp_path / "ref.png")
    Image.fromarray(dist).save(tmp_path / "dist.png")
    graph = f"[0:v]{ZSCALE}[d];[1:v]{ZSCALE}[r];[d][r]libvmaf=model=version=vmaf_v0.6.1:log_fmt=json:log_path=cli.json"
    ffmpeg_run(ffmpeg, tmp_path, "-i", "dist.png", "-i", "ref.png", "-lavfi", graph, "-f", "null", "-")
    (frame,) = json.loads((tmp_path / "cli.json").read_text())["frames"]
    return frame["metrics"]["vmaf"]


def luma_10000(image: np.ndarray) -> np.ndarray:
    """10000 times the BT.709 luma of RGB values, an integer."""
    rgb = image.astype(np.int64)
    return 2126 * rgb[..., 0] + 7152 * rgb[..., 1] + 722 * rgb[..., 2]


def luma_ties(image: np.ndarray) -> int:
    """Pixels whose BT.709 luma is exactly halfway between two levels (2126 R + 7152 G + 722 B = ...5000)."""
    return int((luma_10000(image) % 10000 == 5000).sum())


#: (Kodak image, (top, left, height, width), JPEG quality): whole images, crops of even and odd sizes,
#: the smallest size computed (33 x 33) and a thin one
VMAF_CASES = [("kodim23", (0, 0, 512, 768), 50), ("kodim03", (0, 0, 512, 768), 30),
              ("kodim01", (128, 192, 128, 192), 30), ("kodim23", (138, 212, 101, 157), 70),
              ("kodim13", (200, 300, 33, 33), 10), ("kodim20", (100, 0, 33, 768), 90)]  # fmt: skip


#: zimg computes in float32 and rounds luma that lies exactly halfway its own way (we round half up): on
#: kodim23 (207 such pixels of 393,216, 42 of which zimg rounds down) that moves VMAF by 0.0028. The conversion
#: slips it guards against move it more: the BT.601 matrix by 0.05 to 2.9 on these pairs, limited range
#: by 0.08 to 2.6, reference and distorted swapped by 0.46 to 3.5.
TIE_TOLERANCE = 0.005


@pytest.mark.parametrize("case", VMAF_CASES, ids=_case_id)
def test_vmaf_equals_ffmpegs_command_line(case, kodak, ffmpeg, tmp_path):
    ref, dist = pair(kodak, case)
    expected = program_vmaf(ffmpeg, tmp_path, ref, dist)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a defined value comes without warnings
        value = vmaf(ref, dist)
    if luma_ties(ref) + luma_ties(dist) == 0:
        assert value == expected  # the printed number, exactly
    else:
        assert value == pytest.approx(expected, abs=TIE_TOLERANCE)
    assert 0.0 < value < 97.5
    assert discover_metrics(use_entry_points=False).get("vmaf")().compute(ref, dist) == value


def test_the_conversion_is_bt709_full_range_444(kodak, ffmpeg, tmp_path):
    """Our planes are those of zimg's BT.709 full-range conversion, but for the rounding of exact halves."""
    ref = kodak("kodim23")
    Image.fromarray(ref).save(tmp_path / "ref.png")
    ffmpeg_run(ffmpeg, tmp_path, "-i", "ref.png", "-vf", ZSCALE, "-f", "rawvideo", "ref.yuv")
    theirs = np.fromfile(tmp_path / "ref.yuv", np.uint8).reshape(3, *ref.shape[:2]).astype(int)
    ours = bt709_yuv444(ref)
    assert ours.dtype == np.uint8 and ours.shape == (3, *ref.shape[:2])
    luma = luma_10000(ref)
    differ = ours[0] != theirs[0]
    assert np.all(luma[differ] % 10000 == 5000) and differ.sum() <= luma_ties(ref)  # exact halves only
    assert np.abs(ours - theirs).max() <= 1
    assert np.array_equal(ours[0], (luma + 5000) // 10000)  # psnr_y's luma, rounded half up
    pixels = np.array([[[163, 40, 31], [186, 63, 54], [0, 0, 255], [255, 0, 0], [77, 77, 77], [255, 255, 255]]])
    yuv = bt709_yuv444(pixels.astype(np.uint8))[:, 0].T.tolist()
    assert yuv == [[66, 109, 190], [89, 109, 190], [18, 255, 116], [54, 99, 255], [77, 128, 128], [255, 128, 128]]


def test_vmaf_reads_luma_only(kodak, ffmpeg):
    ref = crop(kodak("kodim01"), (128, 192, 128, 192))
    ref_yuv, dist_yuv = bt709_yuv444(ref), bt709_yuv444(jpeg_roundtrip(ref, 20))
    value, version = mv._run_vmaf(ffmpeg, ref_yuv, dist_yuv, 60)
    ref_yuv[1:], dist_yuv[1:] = 0, 255
    assert mv._run_vmaf(ffmpeg, ref_yuv, dist_yuv, 60) == (value, version)


def test_vmaf_is_not_symmetric_and_the_reference_comes_first(kodak, ffmpeg, tmp_path):
    ref, dist = pair(kodak, ("kodim01", (128, 192, 128, 192), 30))
    forward, backward = vmaf(ref, dist), vmaf(dist, ref)
    assert forward != backward
    assert backward == program_vmaf(ffmpeg, tmp_path, dist, ref)


def test_vmaf_of_identical_images_is_about_97_43(kodak, ffmpeg):
    """The model's output for no distortion and no motion (a still image), not 100."""
    for ref in (kodak("kodim01"), crop(kodak("kodim23"), (138, 212, 101, 157)), np.full((40, 40, 3), 9, np.uint8)):
        assert vmaf(ref, ref) == pytest.approx(97.428, abs=0.01)
    ref, dist = pair(kodak, ("kodim01", (128, 192, 128, 192), 90))
    assert vmaf(ref, dist) < vmaf(ref, ref)


@pytest.mark.parametrize("shape", [(32, 100), (100, 32), (16, 16), (1, 1)])
def test_vmaf_below_33_pixels_is_nan_with_the_reason(shape, kodak, monkeypatch):
    ref = crop(kodak("kodim01"), (200, 300, *shape))
    monkeypatch.setattr(mv, "_run_vmaf", lambda *args: pytest.fail("ffmpeg must not run"))
    with pytest.warns(RuntimeWarning, match=rf"too small for VMAF .*at least {VMAF_MIN_SIDE}: libvmaf crashes"):
        assert math.isnan(vmaf(ref, jpeg_roundtrip(ref, 30)))


def test_why_33_pixels(kodak, ffmpeg):
    """libvmaf scores a JPEG at quality 30 of a 24 x 24 crop 100 and crashes on 16 x 16 (later libvmaf
    versions refuse sides of 32 and less: "adm: invalid size")."""
    ref, dist = pair(kodak, ("kodim01", (100, 200, 24, 24), 30))
    try:
        assert mv._run_vmaf(ffmpeg, bt709_yuv444(ref), bt709_yuv444(dist), 60)[0] == 100.0  # nonsense
    except VmafError as exc:
        assert "invalid size" in str(exc)
    ref, dist = pair(kodak, ("kodim01", (100, 200, 16, 16), 30))
    with pytest.raises(VmafError, match="^ffmpeg (was killed by SIGSEGV|exited with status)"):
        mv._run_vmaf(ffmpeg, bt709_yuv444(ref), bt709_yuv444(dist), 60)


# a stand-in for ffmpeg: lists a libvmaf filter, then counts its calls, writes $FAKE_LOG as the log, fails...
FAKE_FFMPEG = """#!/bin/sh
case "$*" in *-filters*) echo " .. libvmaf           VV->V      Calculate the VMAF"; exit 0;; esac
echo call >> "$FAKE_CALLS"
[ -n "$FAKE_SLEEP" ] && sleep "$FAKE_SLEEP"
[ -n "$FAKE_LOG" ] && printf '%s' "$FAKE_LOG" > vmaf.json
printf "$FAKE_ERROR" >&2
[ -n "$FAKE_SIGNAL" ] && kill -"$FAKE_SIGNAL" $$
exit ${FAKE_STATUS:-0}
"""


@pytest.fixture
def fake_ffmpeg(fake_program, tmp_path, monkeypatch) -> Path:
    """FAKE_FFMPEG as $BENCH_FFMPEG; returns the file it counts its calls in."""
    program = fake_program("fake_ffmpeg", FAKE_FFMPEG)
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("BENCH_FFMPEG", str(program))
    monkeypatch.setenv("FAKE_CALLS", str(calls))
    monkeypatch.setenv("FAKE_LOG", '{"version": "fake", "frames": [{"metrics": {"vmaf": 61.25}}]}')
    return calls


def test_the_fake_program_is_used_and_read(fake_ffmpeg):
    ref, dist = np.full((40, 40, 3), 9, np.uint8), np.full((40, 40, 3), 10, np.uint8)
    assert vmaf(ref, dist) == 61.25
    assert fake_ffmpeg.read_text().count("call") == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAKE_STATUS": "1", "FAKE_ERROR": "Error initializing filters\\nsecond line"},
         r"^ffmpeg exited with status 1: Error initializing filters \| second line$"),
        ({"FAKE_SIGNAL": "SEGV"}, r"^ffmpeg was killed by SIGSEGV: \(no output\)$"),
        ({"FAKE_LOG": ""}, r"^ffmpeg wrote no libvmaf log: \(no output\)$"),
        ({"FAKE_LOG": '{"frames": []}'}, r"^ffmpeg wrote no VMAF score of one frame \(ValueError: .*"),
        ({"FAKE_LOG": "not json"}, r"^ffmpeg wrote no VMAF score of one frame .*not json$"),
        ({"FAKE_SLEEP": "5"}, r"^ffmpeg did not finish within 0.5 s$"),
    ],
)  # fmt: skip
def test_a_failing_program_gives_a_one_line_error(env, message, fake_ffmpeg, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ref, dist = np.full((40, 40, 3), 9, np.uint8), np.full((40, 40, 3), 10, np.uint8)
    with pytest.raises(VmafError, match=message) as raised:
        vmaf(ref, dist, timeout_s=0.5)
    assert "\n" not in str(raised.value)


def test_no_ffmpeg_with_libvmaf_makes_vmaf_unavailable(monkeypatch, tmp_path, fake_program):
    monkeypatch.delenv("BENCH_FFMPEG", raising=False)
    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE", raising=False)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if imageio-ffmpeg were not installed
    monkeypatch.setenv("PATH", str(tmp_path))
    registry = discover_metrics(use_entry_points=False)
    reason = registry.unavailable_reason("vmaf")
    assert reason.startswith("no ffmpeg found: pip install imageio-ffmpeg")
    assert "Debian's ffmpeg package (Debian 12 and 13) is built without libvmaf" in reason
    with pytest.raises(MetricError, match="metric 'vmaf' is not available here: no ffmpeg found"):
        compute("vmaf", np.zeros((40, 40, 3), np.uint8), np.zeros((40, 40, 3), np.uint8))
    # an ffmpeg on PATH without libvmaf, as Debian's
    plain = fake_program(
        "ffmpeg", '#!/bin/sh\necho " .. vmafmotion        V->V       Calculate the VMAF Motion score."\n'
    )
    reason = registry.unavailable_reason("vmaf")
    assert reason.startswith(f"the ffmpeg found ({plain}) has no libvmaf filter: pip install imageio-ffmpeg")
    monkeypatch.setenv("BENCH_FFMPEG", str(plain))
    assert registry.unavailable_reason("vmaf") == (
        f"BENCH_FFMPEG={plain} has no libvmaf filter (an ffmpeg configured with --enable-libvmaf is needed)"
    )
    monkeypatch.setenv("BENCH_FFMPEG", str(tmp_path / "missing"))
    assert registry.unavailable_reason("vmaf").startswith(f"BENCH_FFMPEG={tmp_path / 'missing'} is not an executable")


# ---------------------------------------------------------------------------------------- PSNR-HVS(-M)
@pytest.fixture
def package():
    """``psnr_hvsm.numpy`` and ``psnr_hvsm.compute_all_metrics`` (hushing what it prints on import)."""
    require(importlib.util.find_spec("psnr_hvsm") is not None, "psnr_hvsm (pip install psnr-hvsm)")
    with contextlib.redirect_stdout(io.StringIO()):
        import psnr_hvsm.compute_all_metrics
        import psnr_hvsm.numpy
    return psnr_hvsm


def package_values(package, ref: np.ndarray, dist: np.ndarray) -> tuple[float, float]:
    """(PSNR-HVS, PSNR-HVS-M) from the package's RGB entry point, its own BT.601 conversion."""
    assert package.compute_all_metrics.backend == "numpy"
    with np.errstate(divide="ignore", invalid="ignore"):
        values = package.compute_all_metrics.compute_all_metrics(ref, dist)
    return float(values[0]), float(values[1])


#: Kodak crops of multiples of 8 and of other sizes (the last rows and columns are left out), whole images
PSNR_HVS_CASES = [(name, box, quality) for name in ("kodim01", "kodim23") for quality in (10, 50, 90)
                  for box in ((128, 192, 256, 384), (138, 212, 101, 157), (228, 392, 8, 13))]  # fmt: skip


PSNR_HVS_CASES += [("kodim13", (0, 0, 512, 768), 30), ("kodim20", (0, 0, 512, 768), 70)]


@pytest.mark.parametrize("case", PSNR_HVS_CASES, ids=_case_id)
def test_psnr_hvs_equals_the_package(case, kodak, package):
    ref, dist = pair(kodak, case)
    h, w = ref.shape[0] // 8 * 8, ref.shape[1] // 8 * 8
    expected = package_values(package, ref[:h, :w], dist[:h, :w])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a defined value comes without warnings
        values = psnr_hvs_hvsm(ref, dist)
    assert values == expected  # exactly
    registry = discover_metrics(use_entry_points=False)
    assert registry.get("psnr_hvs")().compute(ref, dist) == expected[0]
    assert registry.get("psnr_hvs_m")().compute(ref, dist) == expected[1]
    assert expected[1] > expected[0] > 10.0  # masking hides some of the error
    if (h, w) != ref.shape[:2]:
        with pytest.raises(ValueError):  # the package needs whole blocks
            package_values(package, ref, dist)


def test_psnr_hvs_equals_the_packages_command_line(kodak, package, tmp_path):
    ref, dist = pair(kodak, ("kodim23", (128, 192, 256, 384), 40))
    Image.fromarray(ref).save(tmp_path / "ref.png")
    Image.fromarray(dist).save(tmp_path / "dist.png")
    env = {**os.environ, "PSNR_HVSM_BACKEND": "numpy"}
    proc = subprocess.run([sys.executable, "-m", "psnr_hvsm", "--json", "ref.png", "dist.png"], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert psnr_hvs_hvsm(ref, dist) == (printed["psnr_hvs"], printed["psnr_hvsm"])


def test_the_luma_is_bt601_studio_range_rounded(kodak, package):
    ref = crop(kodak("kodim23"), (138, 212, 101, 157)).astype(np.float64)
    y = np.round(16 + (65.481 * ref[..., 0] + 128.553 * ref[..., 1] + 24.966 * ref[..., 2]) / 255) / 255
    assert np.array_equal(mv.bt601_luma(ref.astype(np.uint8)), y)
    assert mv.bt601_luma(np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)).tolist() == [[16 / 255, 235 / 255]]


def test_psnr_hvs_of_identical_images_is_inf(kodak, package):
    ref = crop(kodak("kodim01"), (128, 192, 101, 157))
    assert psnr_hvs_hvsm(ref, ref) == (math.inf, math.inf)
    assert package_values(package, ref[:96, :152], ref[:96, :152]) == (100.0, 100.0)  # the package's convention
    other = ref.copy()
    other[-1, -1] ^= 64  # in the rows left out: no error either
    assert psnr_hvs_hvsm(ref, other) == (math.inf, math.inf)
    other[0, 0] ^= 64
    assert all(math.isfinite(v) for v in psnr_hvs_hvsm(ref, other))


@pytest.mark.parametrize("shape", [(7, 60), (60, 7), (1, 1)])
def test_psnr_hvs_below_8_pixels_is_nan_with_the_reason(shape, kodak, package):
    ref = crop(kodak("kodim01"), (200, 300, *shape))
    with pytest.warns(RuntimeWarning, match=rf"too small for PSNR-HVS .*at least {PSNR_HVS_MIN_SIDE}"):
        values = psnr_hvs_hvsm(ref, jpeg_roundtrip(ref, 30))
    assert all(math.isnan(v) for v in values)


def test_both_psnr_hvs_metrics_cost_one_package_call(package, monkeypatch):
    calls = []
    real = package.numpy.hvs_hvsm_mse
    monkeypatch.setattr(package.numpy, "hvs_hvsm_mse", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(5)
    ref = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    dist = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    metrics = discover_metrics(use_entry_points=False).create(["psnr_hvs", "psnr_hvs_m"])
    assert [m.compute(ref, dist) for m in metrics] == list(package_values(package, ref, dist))
    assert len(calls) == 1


def test_a_missing_package_makes_the_psnr_hvs_metrics_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "psnr_hvsm", None)  # as if psnr_hvsm were not installed
    registry = discover_metrics(use_entry_points=False)
    for name in ("psnr_hvs", "psnr_hvs_m"):
        reason = registry.unavailable_reason(name)
        assert reason == "the psnr-hvsm package is not installed (pip install psnr-hvsm; GPL-3.0)"
        with pytest.raises(MetricError, match=f"metric '{name}' is not available here: the psnr-hvsm package"):
            compute(name, np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint8))


# ------------------------------------------------------------------------------- registry, bench metrics
def test_metrics_are_registered_with_their_conventions_and_versions(ffmpeg, package):
    registry = discover_metrics(use_entry_points=False)
    expected = {  # name: words the convention must state
        "vmaf": ["libvmaf", "vmaf_v0.6.1", "BT.709 full range", "4:4:4", "half up", "one frame", "reads Y only"],
        "psnr_hvs_m": ["PSNR-HVS-M", "BT.601 studio-range", "psnr_hvsm", "8x8 blocks", "H mod 8", "inf if no error"],
        "psnr_hvs": ["PSNR-HVS ", "no masking", "BT.601 studio-range", "psnr_hvsm", "NaN if a side < 8"],
    }
    for name, words in expected.items():
        metric = registry.get(name)()
        described = metric.describe()
        assert described["higher_is_better"] is True and described["db"] is None
        assert all(word in described["convention"] for word in words), described["convention"]
        assert metric.label and metric.axis_label
    assert registry.get("psnr_hvs_m")().describe()["versions"]["psnr-hvsm"] != "not installed"
    described = registry.get("vmaf")().describe()
    program = described["program"]
    assert program["path"] == ffmpeg and re.fullmatch(r"[0-9a-f]{64}", program["sha256"])
    assert program["model"] == "vmaf_v0.6.1" and program["version"] not in ("", "unknown")
    assert re.fullmatch(r"[0-9a-zA-Z.\-]+", program["libvmaf"]), program["libvmaf"]
    assert described["versions"]["ffmpeg"] == program["version"]
    assert described["versions"]["libvmaf"] == program["libvmaf"]


def test_bench_metrics_lists_them(ffmpeg, package):
    result = bench_cli("metrics", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}  # nothing the package prints spoils the JSON
    for name in ("vmaf", "psnr_hvs", "psnr_hvs_m"):
        assert rows[name]["available"] and rows[name]["higher_is_better"]
    assert rows["vmaf"]["versions"]["libvmaf"] not in ("not found", "")
    text = bench_cli("metrics", env={"BENCH_FFMPEG": "/nonexistent/ffmpeg"}, timeout=300).stdout
    block = text.split("\nvmaf ", 1)[1]
    assert block.lstrip().startswith("NOT AVAILABLE") and "BENCH_FFMPEG=/nonexistent/ffmpeg" in block


def test_bench_run_writes_the_columns(tmp_path, small_dataset, ffmpeg, package):
    out = tmp_path / "run"
    names = "psnr_rgb,vmaf,psnr_hvs_m,psnr_hvs"
    result = bench_cli("run", "--dataset", str(small_dataset), "--codec", "jpeg", "--quality", "50",
                       "--metrics", names, "--out", str(out), "--no-report", "--no-progress", "-j", "1",
                       "--save-reconstructions", timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out / "records.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    for row in rows:  # the stored values are the metrics of the decoded images
        ref = np.asarray(Image.open(small_dataset / row["image"]).convert("RGB"))
        (decoded_path,) = (out / "reconstructions").rglob(row["image"])
        decoded = np.asarray(Image.open(decoded_path).convert("RGB"))
        assert float(row["vmaf"]) == vmaf(ref, decoded)
        assert (float(row["psnr_hvs"]), float(row["psnr_hvs_m"])) == psnr_hvs_hvsm(ref, decoded)
    recorded = json.dumps(json.loads((out / "run.json").read_text()))
    assert ffmpeg in recorded and "vmaf_v0.6.1" in recorded and "psnr-hvsm" in recorded
