"""Several datasets in one command (bench/cli/run.py, bench/report/datasets.py): ``bench run --dataset A,B``
measures each into its own run folder (each resumable), and ``bench report`` over runs of several datasets
writes one report per dataset and a summary with each codec's BD-rate per dataset side by side; curves of
different datasets are never compared, and published anchors are taken per dataset."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import SHARED, bench_cli, read_csv, require

RUN = ("--codec", "jpeg,webp", "--quality", "30,60,90", "--no-progress", "-j", "1")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, kodak_dir):
    """``bench run --dataset KODAK,OTHER --out OUT --figures``, two folders of two 192 x 256 Kodak crops each;
    returns (its result, OUT, the folder of the two datasets)."""
    from PIL import Image

    tmp_path = tmp_path_factory.mktemp("two")
    sets = {"kodak": (1, 4), "other": (13, 23)}
    for name, numbers in sets.items():
        (tmp_path / "sets" / name).mkdir(parents=True)
        for i in numbers:
            with Image.open(kodak_dir / f"kodim{i:02d}.png") as image:
                image.convert("RGB").crop((0, 0, 256, 192)).save(tmp_path / "sets" / name / f"crop{i:02d}.png")
    kodak, other = tmp_path / "sets" / "kodak", tmp_path / "sets" / "other"
    out = tmp_path / "out"
    result = bench_cli("run", "--dataset", f"{kodak},{other}", "--out", str(out), "--figures", *RUN, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result, out, tmp_path / "sets"


def test_one_command_measures_each_dataset_into_its_own_folder_and_summarises_them(two_runs):
    result, out, sets = two_runs
    kodak, other = sets / "kodak", sets / "other"
    for name in ("kodak", "other"):
        rows = read_csv(out / name / "records.csv")
        assert len(rows) == 2 * 2 * 3 and {r["image"] for r in rows} == {p.name for p in (sets / name).iterdir()}
        assert (out / name / "report" / "report.md").is_file()
    summary = out / "report-kodak+other"
    assert f"summary report over 2 datasets: {summary}/report.md" in result.stdout
    rows = read_csv(summary / "summary.csv")
    assert {(r["dataset"], r["codec"], r["anchor"], r["images"]) for r in rows} == {
        ("kodak", "webp", "jpeg", "2"), ("other", "webp", "jpeg", "2")}  # fmt: skip
    assert {r["metric"] for r in rows} == {"psnr_rgb", "psnr_y", "ms_ssim_db"}
    page = (summary / "report.md").read_text()
    assert "| codec | kodak | other |" in page and "(2 im.)" in page
    assert "[kodak/report.md](kodak/report.md)" in page and "![kodak rd_psnr_rgb](kodak/rd_psnr_rgb.png)" in page
    per_dataset = read_csv(summary / "other" / "bd_rate.csv")
    assert {r["images"] for r in per_dataset} == {"2"}  # over that dataset's images only
    again = bench_cli("run", "--dataset", f"{kodak},{other}", "--out", str(out), *RUN, timeout=300)
    assert again.returncode == 0 and len(read_csv(out / "other" / "records.csv")) == 12  # resumed: nothing twice


def test_two_datasets_that_would_share_a_run_folder_are_refused(tmp_path, small_dataset):
    twin = tmp_path / "elsewhere" / small_dataset.name
    shutil.copytree(small_dataset, twin)
    result = bench_cli("run", "--dataset", f"{small_dataset},{twin}", "--out", str(tmp_path / "out"), *RUN, timeout=60)
    assert result.returncode == 2 and "would share the run folder 'small'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_bench_report_takes_each_datasets_published_anchors_and_refuses_a_file_for_all(two_runs, tmp_path,
                                                                                       http_server):  # fmt: skip
    published = SHARED / "reference" / "compressai"
    require((published / "kodak" / "bpg_444_x265_ycbcr.json").is_file(), f"CompressAI's results not in {published}")
    env = {"BENCH_ANCHORS_URL": http_server(folder=published).url(), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "no_proxy": "127.0.0.1"}  # fmt: skip
    out = two_runs[1]
    runs = [str(out / "kodak"), str(out / "other")]
    made = bench_cli("report", *runs, "--reference", "bpg", "--out", str(tmp_path / "rep"), "--bootstrap", "0",
                     env={**os.environ, **env}, timeout=300)  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    assert "note: other: no published bpg for this dataset" in made.stdout
    assert "kodak/bpg_444_x265_ycbcr.json" in (tmp_path / "rep" / "kodak" / "report.md").read_text()
    assert "bpg" not in (tmp_path / "rep" / "other" / "report.md").read_text().lower()
    refused = bench_cli("report", *runs, "--reference", str(published / "kodak" / "vtm.json"), timeout=120)
    assert refused.returncode == 2 and "with runs of several datasets give published anchors by name" in refused.stderr
