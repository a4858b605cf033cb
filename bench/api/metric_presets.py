"""Named sets of metrics: ``bench run --metrics jpeg-ai`` (alone or with other names: ``jpeg-ai,lpips``).

A preset names codec-bench metrics (each with its own written convention, ``bench metrics``) and,
where the set has one, the **overall BD-rate** its source reports: the arithmetic mean of the
per-metric BD-rates of a codec against the anchor over the preset's ``overall`` metrics (each
BD-rate computed on the metric's compared column: its dB form where it has one, e.g. MS-SSIM-dB).
The report adds that mean when a run has every one of those metrics (:mod:`bench.analysis.overall`).

``jpeg-ai``: the objective metrics of JPEG AI's common test conditions (MS-SSIM, IW-SSIM, VIF, FSIM,
NLPD, VMAF, PSNR-HVS-M; the call for evidence report ISO/IEC JTC 1/SC 29/WG 1 N89022 section 4 lists
the first six, the CTC adds PSNR-HVS-M) and the PSNR of YCbCr (6:1:1), whose overall BD-rate is the
mean over the seven perceptual ones. These are codec-bench's implementations, which follow their
reference implementations (piq, plenoptic, libvmaf, the PSNR-HVS-M authors' code); JPEG AI's own
tool computes most of them on BT.709 luma, while ``ms_ssim_rgb`` averages R, G and B
(CompressAI's convention), ``vif`` and ``iw_ssim`` use BT.601 luma (piq's) and ``fsim`` is FSIMc
(colour): values, and so BD-rates, can differ from JPEG AI's tool. The overall mean is therefore
called "mean BD-rate over the JPEG AI metric set (codec-bench implementations)", never JPEG AI's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from bench.api.metric import DEFAULT_METRICS

__all__ = ["MetricPreset", "METRIC_PRESETS", "expand_metric_names"]


@dataclass(frozen=True)
class MetricPreset:
    """``name``: what ``--metrics`` accepts; ``metrics``: codec-bench metric names, in column order;
    ``overall``: the metrics whose BD-rates the overall BD-rate averages (empty: none); ``title``: what
    the report calls that mean; ``source``: where the set comes from."""

    name: str
    metrics: tuple[str, ...]
    overall: tuple[str, ...]
    title: str
    source: str


METRIC_PRESETS: dict[str, MetricPreset] = {
    preset.name: preset
    for preset in (
        MetricPreset("default", DEFAULT_METRICS, (), "", "bench run's default metrics"),
        MetricPreset(
            "jpeg-ai",
            ("ms_ssim_rgb", "iw_ssim", "vif", "fsim", "nlpd", "vmaf", "psnr_hvs_m", "psnr_yuv"),
            ("ms_ssim_rgb", "iw_ssim", "vif", "fsim", "nlpd", "vmaf", "psnr_hvs_m"),
            "mean BD-rate over the JPEG AI metric set (codec-bench implementations)",
            "JPEG AI common test conditions' objective metrics (WG1 N89022 section 4, and PSNR-HVS-M); the overall "
            "BD-rate as JPEG AI reports it: the mean of the per-metric BD-rates",
        ),
    )
}


def expand_metric_names(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` with each preset name replaced by its metrics, first occurrence kept, order kept."""
    expanded: list[str] = []
    for name in names:
        for metric in METRIC_PRESETS[name].metrics if name in METRIC_PRESETS else (name,):
            if metric not in expanded:
                expanded.append(metric)
    return tuple(expanded)
