"""SSIMULACRA 2 and Butteraugli (bench/metrics/jxl.py) equal libjxl's own programs.

``ssimulacra2`` is our float64 port of libjxl's ``tools/ssimulacra2.cc``. Its reference is libjxl's
``ssimulacra2`` program, which Debian 12 does not have (its libjxl-devtools is libjxl 0.7, older than
SSIMULACRA 2), so ``SSIMULACRA2_REFERENCE`` holds what that program printed: libjxl 0.11.2 (the source
of Debian 13's jpeg-xl 0.11.2), a CMake Release build whose SIMD dispatch runs AVX2 code on the x86-64
machine that ran it, reading PNG files of the same pairs. The JPEG versions are made here with Pillow;
the sha256 of each decoded image guards against a libjpeg-turbo that decodes to other pixels.

libjxl computes in float32 with a recursive (IIR) Gaussian, whose rounding errors grow with the length
of a row or column: on these crops of up to 13 pixels a side we agree to 5e-4 (``TINY_TOLERANCE``); on
the larger ones the program's own value depends on its arithmetic (the same source with the blur built
for SSE2 instead of AVX2 gives values up to 0.084 apart on these crops, 1.36 on kodim20 at JPEG quality
90), and we are within 0.05 of it (``TOLERANCE``). Where a ``ssimulacra2`` program is found (``PATH``
or ``$BENCH_SSIMULACRA2``), the pairs are also compared with it directly, with the spread of such
builds as tolerance; without one that test is skipped, under CI too (no Debian 12 package has it).

``butteraugli`` and ``butteraugli_3norm`` run libjxl's ``butteraugli_main`` (Debian's libjxl-devtools);
they are compared with that program run here directly on PNG files written by the test. Without it
those tests are skipped, or fail under CI.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import bench.metrics.jxl as jxl
from bench.api.external import find_program
from bench.api.metric import MetricError
from bench.api.metric_registry import compute, discover_metrics
from bench.metrics.jxl import (
    BUTTERAUGLI_MIN_SIDE,
    SSIMULACRA2_MIN_SIDE,
    ButteraugliError,
    butteraugli,
    recursive_gaussian_kernel,
    ssimulacra2,
)
from conftest import bench_cli, crop, jpeg_roundtrip, require


def run_program(path: str, tmp_path: Path, ref: np.ndarray, dist: np.ndarray, *args: str) -> str:
    """What the program prints on PNG files of the pair (written by Pillow, as a user would)."""
    files = [tmp_path / "a.png", tmp_path / "b.png"]
    Image.fromarray(ref).save(files[0])
    Image.fromarray(dist).save(files[1])
    proc = subprocess.run([path, str(files[0]), str(files[1]), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# ----------------------------------------------------------------------------------------- SSIMULACRA 2
#: (Kodak image, (top, left, height, width), JPEG quality, sha256 prefix of the decoded JPEG, what
#: libjxl 0.11.2's ``ssimulacra2`` printed). Crops of 128 x 192, 101 x 157 (odd), and of 8 to 16 pixels a
#: side (2 or 3 scales: libjxl computes a scale while the previous one has both sides of at least 8).
SSIMULACRA2_REFERENCE = [
    ("kodim01", (128, 192, 128, 192), 10, "89a083837b9c8b40", 7.27840151),
    ("kodim01", (128, 192, 128, 192), 50, "05278f6d94258a38", 64.16924754),
    ("kodim01", (128, 192, 128, 192), 90, "43ad32710e45261a", 85.10239386),
    ("kodim01", (138, 212, 101, 157), 10, "8ee2c97047d37404", 46.03564170),
    ("kodim01", (138, 212, 101, 157), 50, "da870c9f2fd67a27", 74.47295410),
    ("kodim01", (138, 212, 101, 157), 90, "dabc6a7bc3e3540e", 84.30561381),
    ("kodim01", (228, 392, 8, 8), 10, "69dee098b59fdd92", 81.13831621),
    ("kodim01", (228, 392, 8, 8), 50, "9cdb60726c3f7308", 86.94531800),
    ("kodim01", (228, 392, 8, 8), 90, "6109cc1f530a025f", 94.01758641),
    ("kodim01", (228, 392, 8, 13), 10, "c7db5db6e8b398f8", 81.71395681),
    ("kodim01", (228, 392, 8, 13), 50, "27de44645990d82e", 87.92376975),
    ("kodim01", (228, 392, 8, 13), 90, "77f112f6b7159303", 93.90473139),
    ("kodim01", (228, 392, 13, 8), 10, "d1b9f57cf3534270", 80.81114848),
    ("kodim01", (228, 392, 13, 8), 50, "65797ad9fc70f6fa", 87.94808814),
    ("kodim01", (228, 392, 13, 8), 90, "be971cc434a7b61e", 93.88023298),
    ("kodim01", (228, 392, 16, 16), 10, "16749a72b6815e1a", 77.83231115),
    ("kodim01", (228, 392, 16, 16), 50, "8849fc9c44312f88", 84.06484979),
    ("kodim01", (228, 392, 16, 16), 90, "e419b9d180e3f2ef", 89.82925952),
    ("kodim23", (128, 192, 128, 192), 10, "1c1be6e159cfdafe", 19.10980875),
    ("kodim23", (128, 192, 128, 192), 50, "28da8966fc9e1db3", 73.58997787),
    ("kodim23", (128, 192, 128, 192), 90, "2b61b5ffec63ac5c", 87.89246578),
    ("kodim23", (138, 212, 101, 157), 10, "2d26eb272f588c6f", 44.28488705),
    ("kodim23", (138, 212, 101, 157), 50, "549099a60ad31994", 70.83601726),
    ("kodim23", (138, 212, 101, 157), 90, "42c33e303dec18f1", 82.30286890),
    ("kodim23", (228, 392, 8, 8), 10, "6969e7c3f2e30f3f", 96.38920180),
    ("kodim23", (228, 392, 8, 8), 50, "32717b3d8c8da7d7", 96.43686857),
    ("kodim23", (228, 392, 8, 8), 90, "790c26f198ef191f", 96.74157782),
    ("kodim23", (228, 392, 8, 13), 10, "39fe55afd3c3890c", 96.23541021),
    ("kodim23", (228, 392, 8, 13), 50, "68b8804a3da9d999", 96.11282051),
    ("kodim23", (228, 392, 8, 13), 90, "4b2c264b10490850", 96.64371535),
    ("kodim23", (228, 392, 13, 8), 10, "39fe55afd3c3890c", 95.82531395),
    ("kodim23", (228, 392, 13, 8), 50, "e78d1fb7682b6232", 96.02913989),
    ("kodim23", (228, 392, 13, 8), 90, "adab52cfe5901ba0", 96.48562910),
    ("kodim23", (228, 392, 16, 16), 10, "ceab85c02515bc56", 80.82286676),
    ("kodim23", (228, 392, 16, 16), 50, "20c026da0e9ea0f6", 87.87549749),
    ("kodim23", (228, 392, 16, 16), 90, "07c9780a63b3f2be", 92.37755064),
]


#: Largest differences measured against those values: 4.5e-4 up to 13 pixels a side, 0.04995 above.
TINY_TOLERANCE, TOLERANCE = 5e-4, 0.05


#: Against another build of the program (its float32 arithmetic depends on the SIMD target).
LIVE_TINY_TOLERANCE, LIVE_TOLERANCE = 2e-3, 0.2


def _case_id(case) -> str:
    name, box, quality = case[:3]
    return f"{name}-{box[2]}x{box[3]}-q{quality}"


def reference_pair(kodak, case) -> tuple[np.ndarray, np.ndarray]:
    name, box, quality, digest = case[:4]
    ref = crop(kodak(name), box)
    dist = jpeg_roundtrip(ref, quality)
    got = hashlib.sha256(dist.tobytes()).hexdigest()[:16]
    if got != digest:
        pytest.fail(f"Pillow's JPEG round trip of {_case_id(case)} now gives other pixels (sha256 {got}, the "
                    f"reference value was computed on {digest}): the reference values must be computed again")  # fmt: skip
    return ref, dist


@pytest.mark.parametrize("case", SSIMULACRA2_REFERENCE, ids=_case_id)
def test_ssimulacra2_equals_libjxl(case, kodak):
    ref, dist = reference_pair(kodak, case)
    tolerance = TINY_TOLERANCE if max(ref.shape[:2]) <= 13 else TOLERANCE
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a defined value comes without warnings
        value = ssimulacra2(ref, dist)
    assert value == pytest.approx(case[4], abs=tolerance)


def test_ssimulacra2_equals_the_program_found_here(kodak, tmp_path):
    """Against a ``ssimulacra2`` program (libjxl >= 0.8) on PATH or $BENCH_SSIMULACRA2, if there is one."""
    program = find_program("ssimulacra2")
    if program is None:
        pytest.skip("no ssimulacra2 program (libjxl >= 0.8; Debian 12's libjxl-devtools 0.7 has none): "
                    "the stored reference values are checked instead")  # fmt: skip
    for case in SSIMULACRA2_REFERENCE:
        ref, dist = reference_pair(kodak, case)
        tolerance = LIVE_TINY_TOLERANCE if max(ref.shape[:2]) <= 13 else LIVE_TOLERANCE
        expected = float(run_program(program, tmp_path, ref, dist))
        assert ssimulacra2(ref, dist) == pytest.approx(expected, abs=tolerance), _case_id(case)


def test_the_blur_is_libjxls_recursive_gaussian():
    """The 9-tap kernel is the impulse response of libjxl's recursion (run here in float64), zero outside."""
    kernel = recursive_gaussian_kernel(1.5)
    radius = 5  # round(3.2795 * 1.5 + 0.2546)
    omega = np.array([1, 3, 5]) * math.pi / (2 * radius)
    # n2 and d1 of CreateRecursiveGaussian, from the kernel's own derivation
    p = np.array([1, -1, 1]) / np.tan(omega / 2)
    r = np.array([1, -1, 1]) * p * p / np.sin(omega)
    rho = np.exp(-0.5 * 1.5**2 * omega**2) / radius
    z15 = (p[1] * r[2] - r[1] * p[2]) / (p[0] * r[1] - r[0] * p[1])
    z35 = (p[2] * r[0] - r[2] * p[0]) / (p[0] * r[1] - r[0] * p[1])
    beta = np.linalg.solve([p, r, [z15, z35, 1]], [1, radius**2 - 1.5**2, z15 * rho[0] + z35 * rho[1] + rho[2]])
    n2, d1 = -beta * np.cos(omega * (radius + 1)), -2 * np.cos(omega)
    signal = np.zeros(41)
    signal[20] = 1.0
    out = np.zeros_like(signal)
    prev, prev2 = np.zeros(3), np.zeros(3)
    for n in range(-radius + 1, len(signal)):  # FastGaussian1D: in[n - N - 1] + in[n + N - 1], zero outside
        left, right = n - radius - 1, n + radius - 1
        total = (signal[left] if left >= 0 else 0.0) + (signal[right] if right < len(signal) else 0.0)
        prev, prev2 = n2 * total - d1 * prev - prev2, prev
        if n >= 0:
            out[n] = prev.sum()
    assert np.abs(out[:16]).max() < 1e-12 and np.abs(out[25:]).max() < 1e-12
    assert out[16:25] == pytest.approx(kernel, abs=1e-12)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12) and kernel[4] == pytest.approx(0.264621105, abs=1e-9)


def test_ssimulacra2_of_identical_images_is_100_and_it_can_be_negative(kodak):
    ref = crop(kodak("kodim01"), (128, 192, 101, 157))
    assert ssimulacra2(ref, ref) == 100.0
    assert ssimulacra2(np.full((16, 16, 3), 7, np.uint8), np.full((16, 16, 3), 7, np.uint8)) == 100.0
    assert ssimulacra2(ref, jpeg_roundtrip(ref, 1)) < 0.0
    assert ssimulacra2(ref, 255 - ref) < 0.0


@pytest.mark.parametrize("shape", [(7, 60), (60, 7), (1, 1)])
def test_ssimulacra2_below_8_pixels_is_nan_with_the_reason(shape, kodak):
    ref = crop(kodak("kodim01"), (200, 300, *shape))
    with pytest.warns(RuntimeWarning, match=rf"too small for SSIMULACRA 2 .*at least {SSIMULACRA2_MIN_SIDE}"):
        assert math.isnan(ssimulacra2(ref, jpeg_roundtrip(ref, 30)))


# ------------------------------------------------------------------------------------------- Butteraugli
@pytest.fixture
def butteraugli_main() -> str:
    """The program the metrics use: PATH, or $BENCH_BUTTERAUGLI_MAIN."""
    reason = jxl._butteraugli_unavailable()
    require(reason is None, f"butteraugli_main (Debian libjxl-devtools): {reason}")
    return jxl.butteraugli_program()


def program_scores(path: str, tmp_path: Path, ref: np.ndarray, dist: np.ndarray) -> tuple[float, float]:
    out = run_program(path, tmp_path, ref, dist, "--pnorm", "3").splitlines()
    return float(out[0]), float(re.fullmatch(r"3-norm: (\S+)", out[1]).group(1))


BUTTERAUGLI_CASES = [("kodim01", (128, 192, 128, 192), 30), ("kodim01", (138, 212, 101, 157), 70),
                     ("kodim23", (128, 192, 128, 192), 10), ("kodim23", (138, 212, 101, 157), 90),
                     ("kodim01", (228, 392, 8, 8), 30)]  # fmt: skip


@pytest.mark.parametrize("case", BUTTERAUGLI_CASES, ids=_case_id)
def test_butteraugli_equals_the_program(case, kodak, butteraugli_main, tmp_path):
    ref = crop(kodak(case[0]), case[1])
    dist = jpeg_roundtrip(ref, case[2])
    expected = program_scores(butteraugli_main, tmp_path, ref, dist)
    assert butteraugli(ref, dist) == expected  # the printed numbers, exactly
    registry = discover_metrics(use_entry_points=False)
    assert registry.get("butteraugli")().compute(ref, dist) == expected[0]
    assert registry.get("butteraugli_3norm")().compute(ref, dist) == expected[1]
    assert expected[0] > expected[1] > 0.0  # the max exceeds the mean of the norms


def test_butteraugli_is_not_symmetric_and_the_reference_comes_first(kodak, butteraugli_main, tmp_path):
    ref = crop(kodak("kodim23"), (128, 192, 128, 192))
    dist = jpeg_roundtrip(ref, 20)
    forward, backward = butteraugli(ref, dist), butteraugli(dist, ref)
    assert forward != backward
    assert backward == program_scores(butteraugli_main, tmp_path, dist, ref)


def test_butteraugli_of_identical_images_is_0(kodak, butteraugli_main):
    ref = crop(kodak("kodim01"), (128, 192, 101, 157))
    assert butteraugli(ref, ref) == (0.0, 0.0)


@pytest.mark.parametrize("shape", [(7, 60), (60, 7), (2, 2)])
def test_butteraugli_below_8_pixels_is_nan_with_the_reason(shape, kodak, butteraugli_main, tmp_path):
    ref = crop(kodak("kodim01"), (200, 300, *shape))
    dist = jpeg_roundtrip(ref, 10)
    assert program_scores(butteraugli_main, tmp_path, ref, dist) == (0.0, 0.0)  # why: the program says 0
    with pytest.warns(RuntimeWarning, match=rf"too small for Butteraugli .*at least {BUTTERAUGLI_MIN_SIDE}"):
        values = butteraugli(ref, dist)
    assert all(math.isnan(v) for v in values)


# a stand-in for butteraugli_main: counts its calls, then prints what $FAKE_OUTPUT says or fails
FAKE_PROGRAM = """#!/bin/sh
echo call >> "$FAKE_CALLS"
[ -n "$FAKE_SLEEP" ] && sleep "$FAKE_SLEEP"
printf "$FAKE_OUTPUT"
printf "$FAKE_ERROR" >&2
exit ${FAKE_STATUS:-0}
"""


@pytest.fixture
def fake_butteraugli(fake_program, tmp_path, monkeypatch) -> Path:
    """FAKE_PROGRAM as $BENCH_BUTTERAUGLI_MAIN; returns the file it counts its calls in."""
    program = fake_program("fake_butteraugli", FAKE_PROGRAM)
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("BENCH_BUTTERAUGLI_MAIN", str(program))
    monkeypatch.setenv("FAKE_CALLS", str(calls))
    monkeypatch.setenv("FAKE_OUTPUT", "1.2500000000\\n3-norm: 0.375000\\n")
    return calls


def test_both_butteraugli_metrics_cost_one_program_call(fake_butteraugli):
    rng = np.random.default_rng(3)
    ref = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    dist = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    metrics = discover_metrics(use_entry_points=False).create(["butteraugli", "butteraugli_3norm"])
    assert [m.compute(ref, dist) for m in metrics] == [1.25, 0.375]
    assert fake_butteraugli.read_text().count("call") == 1
    other = dist.copy()
    other[0, 0, 0] ^= 1  # another pair: another call
    assert [m.compute(ref, other) for m in metrics] == [1.25, 0.375]
    assert fake_butteraugli.read_text().count("call") == 2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAKE_STATUS": "3", "FAKE_ERROR": "Failed to decode image\\nsecond line"},
         r"^butteraugli_main exited with status 3: Failed to decode image \| second line$"),
        ({"FAKE_OUTPUT": "no numbers here\\n"}, r"^butteraugli_main printed no scores .*no numbers here"),
        ({"FAKE_OUTPUT": "1.5\\n"}, r"^butteraugli_main printed no scores"),
        ({"FAKE_SLEEP": "5"}, r"^butteraugli_main did not finish within 0.5 s$"),
    ],
)  # fmt: skip
def test_a_failing_program_gives_a_one_line_error(env, message, fake_butteraugli, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ref, dist = np.full((16, 16, 3), 9, np.uint8), np.full((16, 16, 3), 10, np.uint8)
    with pytest.raises(ButteraugliError, match=message) as raised:
        butteraugli(ref, dist, timeout_s=0.5)
    assert "\n" not in str(raised.value)


def test_a_missing_program_makes_the_metrics_unavailable(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BENCH_BUTTERAUGLI_MAIN", raising=False)
    registry = discover_metrics(use_entry_points=False)
    for name in ("butteraugli", "butteraugli_3norm"):
        reason = registry.unavailable_reason(name)
        assert reason.startswith("butteraugli_main not found on PATH (or BENCH_BUTTERAUGLI_MAIN)")
        assert "apt-get install libjxl-devtools" in reason
        with pytest.raises(MetricError, match=f"metric '{name}' is not available here: butteraugli_main not found"):
            compute(name, np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint8))
    assert registry.unavailable_reason("ssimulacra2") is None  # needs no program
    monkeypatch.setenv("BENCH_BUTTERAUGLI_MAIN", str(tmp_path / "not-executable"))
    (tmp_path / "not-executable").write_text("")
    assert registry.unavailable_reason("butteraugli") is not None


# ------------------------------------------------------------------------------- registry, bench metrics
def test_metrics_are_registered_with_their_conventions_and_the_program(butteraugli_main):
    registry = discover_metrics(use_entry_points=False)
    expected = {  # name: (higher is better, words the convention must state)
        "ssimulacra2": (True, ["libjxl", "SSIMULACRA 2.1", "XYB", "100 if identical", "NaN if a side < 8"]),
        "butteraugli": (False, ["butteraugli_main", "libjxl-devtools", "sRGB", "80-nit", "maximum"]),
        "butteraugli_3norm": (False, ["butteraugli_main", "--pnorm 3", "(mean d^12)^(1/12)) / 3", "80-nit"]),
    }
    for name, (higher, words) in expected.items():
        metric = registry.get(name)()
        described = metric.describe()
        assert described["higher_is_better"] is higher and described["db"] is None
        assert all(word in described["convention"] for word in words), described["convention"]
        assert metric.label and metric.axis_label
    described = registry.get("butteraugli")().describe()
    program = described["program"]
    assert program["path"] == butteraugli_main and re.fullmatch(r"[0-9a-f]{64}", program["sha256"])
    assert described["versions"]["butteraugli_main"] == program["version"]
    if butteraugli_main == "/usr/bin/butteraugli_main":  # Debian's
        assert re.fullmatch(r"libjxl-devtools \d+\.\d+\.\d+\S*", program["version"])


def test_bench_metrics_lists_them(butteraugli_main):
    result = bench_cli("metrics", "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["ssimulacra2"]["available"] and rows["ssimulacra2"]["higher_is_better"]
    for name in ("butteraugli", "butteraugli_3norm"):
        assert rows[name]["available"] and not rows[name]["higher_is_better"]
        assert rows[name]["versions"]["butteraugli_main"] not in ("not found", "")
    text = bench_cli("metrics", env={"PATH": os.path.dirname(os.sys.executable), "BENCH_BUTTERAUGLI_MAIN": ""},
                     timeout=120).stdout  # fmt: skip
    block = text.split("\nbutteraugli ", 1)[1]
    assert block.lstrip().startswith("NOT AVAILABLE") and "apt-get install libjxl-devtools" in block


def test_bench_run_writes_the_columns(tmp_path, small_dataset, butteraugli_main):
    out = tmp_path / "run"
    names = "psnr_rgb,ssimulacra2,butteraugli,butteraugli_3norm"
    result = bench_cli("run", "--dataset", str(small_dataset), "--codec", "jpeg", "--quality", "50",
                       "--metrics", names, "--out", str(out), "--no-report", "--no-progress", "-j", "1",
                       "--save-reconstructions", timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out / "records.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    for row in rows:  # the stored values are the metrics of the decoded images
        ref = np.asarray(Image.open(small_dataset / row["image"]).convert("RGB"))
        (decoded_path,) = (out / "reconstructions").rglob(row["image"])
        decoded = np.asarray(Image.open(decoded_path).convert("RGB"))
        assert float(row["ssimulacra2"]) == pytest.approx(ssimulacra2(ref, decoded), rel=1e-12)
        assert (float(row["butteraugli"]), float(row["butteraugli_3norm"])) == butteraugli(ref, decoded)
    recorded = json.loads((out / "run.json").read_text())
    assert "butteraugli_main" in json.dumps(recorded) and butteraugli_main in json.dumps(recorded)
