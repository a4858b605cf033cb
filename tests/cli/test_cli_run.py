"""What `bench run` (bench/cli/run.py, bench/run/printout.py) prints and its exit status when no mean over
images can be taken, and when one image is in the dataset twice under two names."""

from __future__ import annotations

import shutil

from conftest import bench_cli


def test_a_run_where_no_image_has_every_metric_defined_says_so_and_exits_1(tmp_path, tiny_folder):
    out = tmp_path / "run"
    result = bench_cli("run", "--dataset", str(tiny_folder), "--codec", "jpeg", "--quality", "30,70", "--out", str(out),
                       "-j", "1", "--no-progress")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    warning = next(line for line in result.stdout.splitlines() if line.startswith("warning: jpeg: "))
    assert (
        "no image has every metric defined (ms_ssim_rgb undefined; MS-SSIM needs images whose shorter side" in warning
    )
    assert warning.endswith("measure into a new folder with --metrics psnr_rgb,psnr_y")
    report = bench_cli("report", str(out))
    assert report.returncode == 1 and "Traceback" not in report.stderr
    assert report.stderr.startswith(f"bench report: warning: {out}: jpeg: no image has every metric defined")


def test_the_same_image_under_two_names_gets_a_note(tmp_path, tiny_folder):
    shutil.copy(tiny_folder / "t0.png", tiny_folder / "t0-again.png")
    result = bench_cli("run", "--dataset", str(tiny_folder), "--codec", "jpeg", "--quality", "50", "--metrics",
                       "psnr_rgb", "--out", str(tmp_path / "run"), "-j", "1", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "note: t0-again.png, t0.png are the same file (sha256 " in result.stdout
    assert "that image counts 2 times in every mean over images" in result.stdout
