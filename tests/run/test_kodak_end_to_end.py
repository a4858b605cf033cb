"""The real thing, on full-size Kodak images (the runner, bench/run/runner.py, end to end; marked slow, CI
runs it).

1. ``bench run --dataset kodak --codec jpeg,webp`` (quality 5, 10, 20, ..., 90, 95) on all 24 images lands
   on CompressAI's published JPEG and WebP points (results/image/kodak/{jpeg,webp}.json, the same
   qualities): within 1% in bpp and 0.2 dB in PSNR at qualities 5, 50 and 95, and a report over the
   run and the published files shows the published curves on ours.
2. Every available built-in codec codes full-size Kodak images, landscape and portrait (the first 8,
   kodim04 a portrait; the learned families, slow on a CPU, the first 4: CI's time), at both ends of its
   default sweep, and each image gets more bits at the high end. Codecs that need programs from the
   operating system
   (``jpegxl-cli``: Debian's libjxl-tools) are left out where those are missing, with the reason, so
   that ``make test`` passes on a fresh machine; under CI (``CI=true``, where ``.ci/run`` installs
   them) they are required, and so is ``bpg`` (``.ci/run`` puts ``../shared/tools/bpg/bin`` on PATH);
   the ``compressai:`` models' weights cannot be had offline anywhere and are never required.
3. ``bench run --codec bpg`` on all 24 images gives CompressAI's published BPG points
   (results/image/kodak/bpg_444_x265_ycbcr.json: libbpg 0.9.8, x265, YCbCr 4:4:4, 8 bits) at QP 42 and
   27: the same bytes (bpp equal to 6 digits) and PSNR-RGB to 0.001 dB, MS-SSIM to 1e-5.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

from bench.api.codec_registry import Registry, discover
from bench.api.external import ExternalCodec
from bench.run.runner import RunConfig, run
from conftest import IN_CI, bench_cli, require

SLOW = pytest.mark.slow


def test_kodak_run_leaves_out_missing_programs_only_outside_ci(monkeypatch):
    """Which codecs :func:`plan_codecs` measures: optional programs skipped locally, required under CI
    (not slow itself)."""
    monkeypatch.setenv("BENCH_CJXL", str(Path("/nonexistent/cjxl")))
    monkeypatch.setenv("BENCH_DJXL", str(Path("/nonexistent/djxl")))
    registry = discover(use_entry_points=False)
    measure, left_out = plan_codecs(registry, in_ci=False)
    assert "jpegxl-cli" in left_out and "cjxl and djxl not found" in left_out["jpegxl-cli"]
    assert "jpegxl-cli" not in measure and {"jpeg", "webp", "jpegxl", "mean-scale-small"} <= set(measure)
    measure, left_out = plan_codecs(registry, in_ci=True)
    assert "jpegxl-cli" in measure and "jpegxl-cli" not in left_out  # under CI the run must fail on it


QUALITIES = (5, 50, 95)


#: 11 of the 19 qualities CompressAI swept (5, 10, ..., 95): the three compared and enough for the curves
SWEEP = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)


@pytest.fixture(scope="module")
def jpeg_webp_run_folder(tmp_path_factory, kodak_dir):
    out = tmp_path_factory.mktemp("kodak") / "run"
    result = bench_cli("run", "--dataset", "kodak", "--data-dir", str(kodak_dir.parent), "--offline",
                       "--codec", "jpeg,webp", "--quality", ",".join(map(str, SWEEP)),
                       "--out", str(out), "--no-progress", "--no-report")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def jpeg_webp_run(jpeg_webp_run_folder):
    with open(jpeg_webp_run_folder / "summary.csv", newline="") as fh:
        return {(row["codec"], int(row["quality"])): row for row in csv.DictReader(fh)}


@SLOW
@pytest.mark.parametrize("codec", ["jpeg", "webp"])
@pytest.mark.parametrize("quality", QUALITIES)
def test_matches_compressai_published_points(jpeg_webp_run, compressai_reference, codec, quality):
    published = json.loads((compressai_reference / f"{codec}.json").read_text())["results"]
    index = quality // 5 - 1  # CompressAI swept quality 5, 10, ..., 95
    ours = jpeg_webp_run[(codec, quality)]
    assert ours["images"] == "24"
    assert float(ours["bpp"]) == pytest.approx(published["bpp"][index], rel=0.01)
    assert float(ours["psnr_rgb"]) == pytest.approx(published["psnr-rgb"][index], abs=0.2)
    assert float(ours["ms_ssim_rgb"]) == pytest.approx(published["ms-ssim-rgb"][index], abs=0.005)


#: QPs of the BPG comparison (of CompressAI's 47, 42, ..., 12: index 1 and 4), chosen for CI's time
BPG_QPS = {42: 1, 27: 4}


@SLOW
def test_bpg_gives_compressai_published_bpg_points(tmp_path, kodak_dir, compressai_reference):
    reason = discover(use_entry_points=False).get("bpg").unavailable_reason()
    require(not reason, f"bpg: {reason}")
    out = tmp_path / "bpg"
    result = bench_cli("run", "--dataset", "kodak", "--data-dir", str(kodak_dir.parent), "--offline", "--codec", "bpg",
                       "--quality", ",".join(map(str, BPG_QPS)), "--out", str(out), "--no-progress", "--no-report")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out / "summary.csv", newline="") as fh:
        ours = {int(row["quality"]): row for row in csv.DictReader(fh)}
    published = json.loads((compressai_reference / "bpg_444_x265_ycbcr.json").read_text())["results"]
    for qp, index in BPG_QPS.items():
        assert ours[qp]["images"] == "24"
        assert float(ours[qp]["bpp"]) == pytest.approx(published["bpp"][index], rel=1e-6), qp  # the same bytes
        assert float(ours[qp]["psnr_rgb"]) == pytest.approx(published["psnr-rgb"][index], abs=1e-3), qp
        assert float(ours[qp]["ms_ssim_rgb"]) == pytest.approx(published["ms-ssim-rgb"][index], abs=1e-5), qp


#: codecs measured on crops elsewhere, too slow for Kodak images in a test
SLOW_CODECS = ("vtm", "vtm-compressai", "vvc")

#: every codec codes the first IMAGES Kodak images (kodim04 a portrait), the learned families the first
#: LEARNED_IMAGES (their models are slow on a CPU): to keep CI under 20 minutes
IMAGES = 8
LEARNED_IMAGES = 4


def plan_codecs(registry: Registry, in_ci: bool) -> tuple[list[str], dict[str, str]]:
    """(the codecs to measure, the codecs left out -> why).

    Left out: the VVC codecs (VTM takes about a minute per Kodak image; they code crops in
    tests/codecs/test_vvc.py), ``compressai:`` models when unavailable (no pretrained weights offline;
    their plumbing is tested in tests/codecs/ and tests/neural/), and, outside CI only, codecs whose
    external programs are missing (``bpg`` among them). Every other codec
    is measured, available or not: an unavailable one fails the run, which says why.
    """
    measure, left_out = [], {}
    for entry in registry.entries():
        reason = entry.unavailable_reason()
        if entry.name in SLOW_CODECS:
            left_out[entry.name] = "too slow for Kodak images here (crops: tests/codecs/test_vvc.py)"
        elif reason and entry.name.startswith("compressai:"):
            left_out[entry.name] = reason
        elif reason and issubclass(entry.cls, ExternalCodec) and not in_ci:
            left_out[entry.name] = reason
        else:
            measure.append(entry.name)
    return measure, left_out


@SLOW
def test_every_builtin_codec_codes_all_of_kodak(tmp_path, kodak_dir):
    """Each codec at both ends of its default sweep on the first IMAGES (LEARNED_IMAGES) Kodak images; the
    codecs whose sweeps end at the same knob values are measured by one ``run`` (jpeg and webp, jpegxl and
    jpegxl-cli), in this process, into one run folder."""
    registry = discover(use_entry_points=False)
    out = tmp_path / "run"
    to_measure, left_out = plan_codecs(registry, IN_CI)
    if IN_CI:  # fail at once rather than after the codecs before it
        for name in to_measure:
            if reason := registry.get(name).unavailable_reason():
                pytest.fail(f"required under CI: {name}: {reason}")
    images, runs = {}, defaultdict(list)
    for name in to_measure:
        entry = registry.get(name)
        ordered = entry.cls.knob.ordered(entry.cls.knob.sweep)
        images[name] = LEARNED_IMAGES if entry.cls.kind == "neural" else IMAGES
        runs[(ordered[0], ordered[-1], images[name])].append(name)
    measured = []
    for (low, high, count), codecs in runs.items():
        printed: list[str] = []
        config = RunConfig(dataset="kodak", data_dir=kodak_dir.parent, offline=True, codecs=tuple(codecs),
                           qualities=(low, high), out=out, max_images=count)  # fmt: skip
        report = run(config, progress=False, echo=printed.append)
        assert report.ok, "\n".join(printed)
        measured += codecs
    with open(out / "records.csv", newline="") as fh:
        records = list(csv.DictReader(fh))
    bits = defaultdict(dict)
    for row in records:
        bits[(row["codec"], row["image"])][float(row["quality"])] = int(row["bytes"])
    assert {codec for codec, _ in bits} == set(measured)
    required = {
        "jpeg",
        "webp",
        "jpeg2000",
        "heif",
        "avif",
        "jpegxl",
        "jpegxl-cli",
        "mean-scale-small",
        "factorized-small",
    }
    assert required - set(left_out) <= set(measured)  # (under CI only compressai: models can be left out)
    for (codec, image), sizes in bits.items():
        knob = registry.get(codec).cls.knob
        low, high = knob.ordered(sizes)
        assert sizes[low] < sizes[high], (codec, image, sizes)
    assert len(bits) == sum(images[name] for name in measured)
    with open(out / "failures.csv") as fh:
        assert fh.read().strip() == "codec,quality,image,stage,error"
    missing = {name: why for name, why in left_out.items() if name in required}
    if missing:  # everything else passed; say what was not measured here, and why
        pytest.skip(
            f"{len(measured)} codecs measured and checked; not measured here (required under CI): "
            + "; ".join(f"{name}: {why}" for name, why in missing.items())
        )


@SLOW
def test_our_curves_overlay_compressai_published_ones(jpeg_webp_run_folder, compressai_reference, tmp_path):
    """A report over our JPEG/WebP run and CompressAI's files: the published curves lie on ours."""
    from bench.report.writer import ReportConfig, make_report

    refs = (compressai_reference / "jpeg.json", compressai_reference / "webp.json")
    for anchor, published in (("jpeg", "JPEG"), ("webp", "WebP")):
        report = make_report(
            ReportConfig(runs=(jpeg_webp_run_folder,), references=refs, out=tmp_path / anchor, anchor=anchor)
        )
        table = report.table.set_index(["codec", "metric", "aggregation"])
        assert abs(table.loc[(published, "psnr_rgb", "mean-curve"), "bd_rate"]) < 2.5, anchor
        assert abs(table.loc[(published, "psnr_rgb", "mean-curve"), "bd_metric"]) < 0.15, anchor
        assert (tmp_path / anchor / "rd_psnr_rgb.png").is_file()
