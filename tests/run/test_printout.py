"""What `bench run` prints (bench/run/printout.py): the summary table stays aligned."""

from __future__ import annotations

from bench.api.records import Record
from bench.run.runner import RunReport, format_summary


def test_the_summary_table_stays_aligned_for_long_codec_names(tmp_path):
    records = [Record(codec, q, "i.png", 8, 8, 10, 1.25 * q, {"psnr_rgb": 30.0 + q, "psnr_y": 31.0, "ms_ssim_rgb": 0.9},
                      0.01, 0.02)
               for codec in ("jpeg", "a-rather-long-codec-name") for q in (1.0, 2.0)]  # fmt: skip
    table = format_summary(RunReport(tmp_path, 4, records, [], {}))
    header, rule, *rows = table.splitlines()[:4]
    assert len(rule) == len(header) and [len(r) for r in rows] == [len(header)] * 2
    assert sorted(r.split()[0] for r in rows) == ["a-rather-long-codec-name", "jpeg"]
