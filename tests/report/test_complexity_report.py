"""The report's complexity table and figure (bench/analysis/complexity.py, bench/report/writer.py) and the overall
BD-rate of the JPEG AI metric set (bench/analysis/overall.py, bench/api/metric_presets.py)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from bench.analysis.complexity import COMPLEXITY_COLUMNS, complexity_table, middle_quality
from bench.analysis.curves import curves_from_run
from bench.analysis.overall import OVERALL_COLUMNS, overall_presets, overall_table
from bench.api.metric import Column
from bench.api.metric_presets import METRIC_PRESETS, expand_metric_names
from bench.api.options import metric_list
from bench.report.tables import complexity_markdown
from bench.report.writer import ReportConfig, make_report
from conftest import REPO, quiet_run, require_module


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory, kodak_dir):
    """jpeg and the shipped factorized-small family, their default sweeps, on two crops of Kodak images
    whose sides are multiples of 64 (no padding: the MACs per pixel are those of any such size)."""
    require_module("compressai", "the shipped learned family")
    from PIL import Image

    folder = tmp_path_factory.mktemp("two-kodak")
    Image.open(kodak_dir / "kodim01.png").crop((0, 0, 384, 256)).save(folder / "landscape.png")
    Image.open(kodak_dir / "kodim04.png").crop((0, 0, 256, 384)).save(folder / "portrait.png")
    out = folder.parent / "complexity-run"
    quiet_run(dataset=str(folder), codecs=("jpeg", "factorized-small"), out=out, jobs=2)
    return out


def test_the_middle_quality_is_the_median_setting():
    assert middle_quality([10, 30, 30, 60, 90]) == 30  # distinct settings 10, 30, 60, 90: the lower middle
    assert middle_quality([5.0]) == 5.0 and middle_quality([1, 2, 3]) == 2
    with pytest.raises(ValueError):
        middle_quality([])


def test_the_complexity_table_counts_learned_codecs_and_says_na_for_traditional_ones(learned_run):
    table = complexity_table(curves_from_run(learned_run)).set_index("codec")
    assert tuple(table.reset_index().columns) == COMPLEXITY_COLUMNS
    family = json.loads((REPO / "bench_codecs/weights/factorized-small/family.json").read_text())
    learned, jpeg = table.loc["factorized-small"], table.loc["jpeg"]
    assert learned.quality == 2 and learned.images == 2
    assert learned.dec_kmac_px == pytest.approx(family["kmac_per_pixel"]["decoder"])  # counted at 768 x 512
    assert learned.dec_kmac_px_min == learned.dec_kmac_px_max  # the same work per pixel in both orientations
    assert learned.params > learned.dec_params > 0
    assert 0 < learned.decode_network_s < learned.decode_s and learned.decode_coding_s > 0
    assert learned.memory_of == "process" and learned.decode_peak_mb > learned.decode_added_mb >= 0
    assert math.isnan(jpeg.dec_kmac_px) and math.isnan(jpeg.params) and math.isnan(jpeg.decode_network_s)
    assert jpeg.decode_s_min <= jpeg.decode_s <= jpeg.decode_s_max and jpeg.quality == 50  # of 5, 10, ..., 95


def test_the_report_has_the_complexity_table_and_figure(learned_run, tmp_path):
    result = make_report(ReportConfig(runs=(learned_run,), out=tmp_path / "report"))
    page = (result.out / "report.md").read_text()
    section = page.split("## Complexity", 1)[1].split("\n## ", 1)[0]
    assert "| factorized-small |" in section and "| jpeg |" in section and "n/a" in section
    assert "![BD-rate (PSNR-RGB) against complexity](complexity.png)" in section
    for ext in ("png", "pdf", "svg"):
        assert (result.out / f"complexity.{ext}").stat().st_size > 1000
    svg = (result.out / "complexity.svg").read_text()
    assert "kMAC/pixel" in svg and "factorized-small" in svg and "(dashed: codecs without a MAC count)" in svg
    csv = pd.read_csv(result.out / "complexity.csv")
    assert list(csv.codec) == ["factorized-small", "jpeg"]


def test_program_peaks_not_above_the_helpers_floor_read_as_at_most():
    row = {column: math.nan for column in COMPLEXITY_COLUMNS}
    row.update(codec="bpg", device="CPU", quality=30.0, images=2, memory_of="program", encode_peak_mb=18.4,
               decode_peak_mb=7.6, program_floor_mb=10.5)  # fmt: skip
    text = complexity_markdown(pd.DataFrame([row]))
    assert "| 18.4 (program) | ≤ 10.5 (program) |" in text and "| n/a | n/a |" in text


def _bd(codec: str, metric: str, rate: float) -> dict:
    """A mean-curve row of a BD table against jpeg."""
    return {"codec": codec, "anchor": "jpeg", "metric": metric, "aggregation": "mean-curve", "bd_rate": rate}


def _column(metric: str, name: str | None = None) -> Column:
    return Column(name or metric, metric, "", metric, metric)


def test_presets_expand_in_place_and_the_jpeg_ai_set_is_codec_bench_metrics():
    from bench.api.metric_registry import discover_metrics

    jpeg_ai = METRIC_PRESETS["jpeg-ai"]
    assert expand_metric_names(["psnr_rgb", "jpeg-ai", "vif"]) == ("psnr_rgb", *jpeg_ai.metrics)
    assert metric_list("jpeg-ai, lpips") == (*jpeg_ai.metrics, "lpips")
    known = set(discover_metrics().names())
    assert set(jpeg_ai.metrics) <= known and set(jpeg_ai.overall) < set(jpeg_ai.metrics)
    from bench.cli.metrics import preset_lines

    assert f"jpeg-ai        {','.join(jpeg_ai.metrics)}" in preset_lines()  # bench metrics lists the presets


def test_the_overall_bd_rate_is_the_mean_over_the_preset_metrics():
    preset = METRIC_PRESETS["jpeg-ai"]
    compared = {m: "ms_ssim_db" if m == "ms_ssim_rgb" else m for m in preset.metrics}  # MS-SSIM: its dB form
    columns = [_column(m, compared[m]) for m in preset.metrics]
    rates = dict(zip(preset.overall, (-10.0, -20.0, -30.0, -5.0, -15.0, -25.0, -35.0), strict=True))
    rows = [_bd("webp", compared[m], rate) for m, rate in rates.items()]
    rows += [_bd("webp", "psnr_yuv", +50.0)]  # in the preset, not in its overall mean
    rows += [_bd("avif", compared[m], -40.0) for m in preset.overall if m != "vmaf"]  # vmaf missing for avif
    table = overall_table(pd.DataFrame(rows), columns, preset)
    assert tuple(table.columns) == OVERALL_COLUMNS
    webp = table[table.codec == "webp"].iloc[0]
    assert webp.bd_rate == pytest.approx(-20.0) and webp.metrics == 7 and webp.note == ""
    avif = table[table.codec == "avif"].iloc[0]
    assert math.isnan(avif.bd_rate) and avif.metrics == 6 and avif.note == "no BD-rate for vmaf"
    assert [p.name for p in overall_presets([*preset.metrics, "psnr_rgb"])] == ["jpeg-ai"]
    assert overall_presets(["psnr_rgb", "ms_ssim_rgb"]) == []
