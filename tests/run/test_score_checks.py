"""`bench score` checks a saved file against what the run recorded before scoring it (bench/run/score.py).

``bench run`` records the sha256 of each bitstream and reconstruction it saves; `bench score` scores a
file only if it still has it and still gives the PSNR the run measured (which also covers runs made
before the sha256 were recorded). A file that differs fails its record with one line naming the file,
nothing is scored from it, and the exit status says records failed. The runs are conftest's
``saved_runs`` (two synthetic 96 x 128 images, jpeg and webp at qualities 30 and 70, PSNR-RGB only).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.api.files import sha256_file
from bench.run.score import ScoreConfig, score
from conftest import SAVED_RUN_RECORDS, bench_cli

RECONSTRUCTION = Path("reconstructions", "jpeg", "30", "img0.png")
BITSTREAM = Path("bitstreams", "jpeg", "70", "img1.jpg")


@pytest.fixture
def copy_of(saved_runs, tmp_path):
    def copy(name: str) -> Path:
        return Path(shutil.copytree(saved_runs[name], tmp_path / name))

    return copy


def quiet_score(folder: Path, metrics: tuple[str, ...]):
    return score(ScoreConfig(run=folder, metrics=metrics, jobs=1), progress=False, echo=lambda text: None)


def scored_keys(folder: Path, metric: str) -> set[tuple[str, float, str]]:
    db = sqlite3.connect(f"file:{folder / 'store.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT codec, quality, image FROM metric_values WHERE metric=?", (metric,)).fetchall()
    finally:
        db.close()
    return {(c, float(q), i) for c, q, i in rows}


def forget_recorded_hashes(folder: Path) -> None:
    """Make the run one of an older codec-bench, which recorded no sha256 of the files it saved."""
    db = sqlite3.connect(folder / "store.sqlite")
    with db:
        for key, extra in db.execute("SELECT rowid, extra FROM records").fetchall():
            kept = {k: v for k, v in json.loads(extra).items() if not k.endswith("_sha256")}
            db.execute("UPDATE records SET extra=? WHERE rowid=?", (json.dumps(kept), key))
    db.close()


def zero_rows(path: Path, rows: slice) -> None:
    pixels = np.array(Image.open(path))
    pixels[rows] = 0
    Image.fromarray(pixels).save(path)


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_bench_run_records_the_sha256_of_the_files_it_saves(saved_runs):
    for kind in ("bitstreams", "reconstructions"):
        db = sqlite3.connect(f"file:{saved_runs[kind] / 'store.sqlite'}?mode=ro", uri=True)
        extras = {
            (c, q, i): json.loads(e) for c, q, i, e in db.execute("SELECT codec, quality, image, extra FROM records")
        }
        db.close()
        assert len(extras) == SAVED_RUN_RECORDS
        key = ("jpeg", 30.0, "img0.png")
        path = RECONSTRUCTION if kind == "reconstructions" else Path("bitstreams", "jpeg", "30", "img0.jpg")
        assert extras[key][f"{kind[:-1]}_sha256"] == sha256_file(saved_runs[kind] / path)


def test_a_changed_reconstruction_fails_its_record_with_one_line_naming_it_and_the_exit_status_says_so(saved_runs,
                                                                                                     copy_of):  # fmt: skip
    folder = copy_of("reconstructions")
    zero_rows(folder / RECONSTRUCTION, slice(0, 50))
    done = bench_cli("score", str(folder), "--metrics", "psnr_y", "-j", "1", "--no-progress", "--no-report")
    assert done.returncode == 1
    now, then = sha256_file(folder / RECONSTRUCTION), sha256_file(saved_runs["reconstructions"] / RECONSTRUCTION)
    assert [line for line in done.stdout.splitlines() if line.startswith("FAILED")] == [
        f"FAILED jpeg 30 img0.png: reconstruction: {folder / RECONSTRUCTION} has changed since the run saved it "
        f"(sha256 {now[:12]}... now, {then[:12]}... then): not the reconstruction the run measured"
    ]
    assert ("jpeg", 30.0, "img0.png") not in scored_keys(folder, "psnr_y")
    assert len(scored_keys(folder, "psnr_y")) == SAVED_RUN_RECORDS - 1


def test_a_changed_reconstruction_of_a_run_without_recorded_sha256_fails_by_its_psnr(copy_of):
    folder = copy_of("reconstructions")
    forget_recorded_hashes(folder)
    zero_rows(folder / RECONSTRUCTION, slice(0, 50))
    report = quiet_score(folder, ("psnr_y",))
    assert not report.ok and report.scored == SAVED_RUN_RECORDS - 1
    ((key, reason),) = report.failures
    assert key == ("jpeg", 30.0, "img0.png")
    assert reason.startswith(f"reconstruction: {folder / RECONSTRUCTION} gives other pixels than the run measured "
                             "(psnr_rgb ")  # fmt: skip
    assert reason.endswith("then): not the reconstruction the run saved")
    assert key not in scored_keys(folder, "psnr_y")


@pytest.mark.parametrize("recorded", [True, False], ids=["sha256 recorded", "older run"])
def test_a_bitstream_with_one_byte_flipped_fails_its_record_naming_it(copy_of, recorded):
    folder = copy_of("bitstreams")
    if not recorded:
        forget_recorded_hashes(folder)
    flip_a_byte(folder / BITSTREAM)
    report = quiet_score(folder, ("psnr_y",))
    assert not report.ok and report.scored == SAVED_RUN_RECORDS - 1
    ((key, reason),) = report.failures
    assert key == ("jpeg", 70.0, "img1.png") and key not in scored_keys(folder, "psnr_y")
    assert reason.startswith(f"decode: {folder / BITSTREAM}") and "\n" not in reason
    if recorded:
        assert "has changed since the run saved it (sha256 " in reason


def test_an_unchanged_bitstream_that_decodes_to_other_pixels_blames_the_decoding_not_the_file(copy_of):
    folder = copy_of("bitstreams")
    db = sqlite3.connect(folder / "store.sqlite")  # as if the run had decoded it elsewhere (another GPU, --half)
    with db:
        db.execute("UPDATE metric_values SET value=value+1 WHERE metric='psnr_rgb' AND codec='jpeg' AND quality=70 "
                   "AND image='img1.png'")  # fmt: skip
    db.close()
    report = quiet_score(folder, ("psnr_y",))
    ((key, reason),) = report.failures
    assert key == ("jpeg", 70.0, "img1.png") and key not in scored_keys(folder, "psnr_y")
    assert reason.startswith(f"decode: decoding {folder / BITSTREAM} (the bitstream the run saved: same sha256) gives "
                             "other pixels than the run measured (psnr_rgb ")  # fmt: skip
    assert reason.endswith("the codec does not decode identically here (another device, precision or library version?)")
