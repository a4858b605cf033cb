"""Published anchors by name (bench/analysis/anchors.py): the catalogue, the hash-checked download (from a
local server, tests/http_server.py) and the report."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.analysis.anchors import AnchorError, anchor_names, catalogue, fetch_anchor, find_anchor
from bench.api.files import sha256_file
from bench.report.writer import load_curves
from conftest import SHARED, bench_cli, require

PUBLISHED = SHARED / "reference" / "compressai"


@pytest.fixture
def server(http_server, tmp_path, monkeypatch):
    """CompressAI's results/image/ folder served on 127.0.0.1 (from ../shared), an empty anchor cache."""
    require((PUBLISHED / "kodak" / "vtm.json").is_file(), f"CompressAI's published results not in {PUBLISHED}")
    served = http_server(folder=PUBLISHED)
    monkeypatch.setenv("BENCH_ANCHORS_URL", served.url())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return served


def test_the_catalogue_names_every_published_kodak_file_once_with_its_hash():
    require(PUBLISHED.is_dir(), f"CompressAI's published results not in {PUBLISHED}")
    names = anchor_names()
    assert len(set(n.lower() for n in names)) == len(names)
    files = sorted(p.relative_to(PUBLISHED).as_posix() for p in PUBLISHED.rglob("*.json"))
    assert sorted(a.path for a in catalogue()["anchors"]) == files
    for anchor in catalogue()["anchors"]:
        assert sha256_file(PUBLISHED / anchor.path) == anchor.sha256, anchor.name
    assert find_anchor("VTM").path == "kodak/vtm.json" and find_anchor("bpg").path == "kodak/bpg_444_x265_ycbcr.json"
    assert find_anchor("bmshj2018-hyperprior-mse-8bit").path.startswith("8bit-decoded/")
    assert find_anchor("no-such-codec") is None


def test_an_anchor_is_downloaded_once_checked_and_then_used_offline(server):
    path = fetch_anchor("vtm")
    assert path.read_bytes() == (PUBLISHED / "kodak" / "vtm.json").read_bytes()
    assert fetch_anchor("vtm", offline=True) == path
    with pytest.raises(AnchorError, match="--offline"):
        fetch_anchor("hm", offline=True)
    with pytest.raises(AnchorError, match="unknown published anchor 'vtm2'"):
        fetch_anchor("vtm2")


def test_a_file_that_does_not_match_its_hash_is_refused_and_not_cached(server, http_server, tmp_path, monkeypatch):
    fake = tmp_path / "fake" / "kodak"
    fake.mkdir(parents=True)
    (fake / "vtm.json").write_text('{"name": "VTM", "results": {"bpp": [1], "psnr-rgb": [99]}}')
    monkeypatch.setenv("BENCH_ANCHORS_URL", http_server(folder=fake.parent).base)
    with pytest.raises(AnchorError, match="sha256"):
        fetch_anchor("vtm")
    assert not list((tmp_path / "cache").rglob("vtm.json"))


def test_report_references_take_anchor_names_with_their_provenance(server):
    curves = load_curves([], [Path("vtm,bpg")])
    assert [c.label for c in curves] == ["VTM", "BPG 8b 444 x265 ycbcr"]
    vtm = curves[0]
    assert vtm.kind == "published" and len(vtm.points) == 8
    assert "869a9f5d41" in vtm.provenance["file"] and "2025-06-25" in vtm.provenance["file"]
    assert "truncated" in vtm.description


def test_bench_anchors_lists_and_fetches(server):
    env = {key: os.environ[key] for key in ("BENCH_ANCHORS_URL", "XDG_CACHE_HOME")}
    fetched = bench_cli("anchors", "--fetch", "vtm", env=env, timeout=60)
    assert fetched.returncode == 0, fetched.stderr
    listing = bench_cli("anchors", env=env, timeout=60)
    assert listing.returncode == 0
    line = next(s for s in listing.stdout.splitlines() if s.startswith("vtm "))
    assert "cached" in line and "8 points" in line
    bad = bench_cli("anchors", "--fetch", "nope", env=env, timeout=60)
    assert bad.returncode == 2 and "unknown published anchor 'nope'" in bad.stderr


def test_each_dataset_with_published_results_has_its_own_files_and_says_what_they_cover():
    from bench.analysis.anchors import anchor_datasets

    assert list(anchor_datasets()) == ["kodak", "clic2020-professional-test", "clic2020-mobile-test"]
    mobile = find_anchor("bpg", "clic2020-mobile-test")
    assert mobile.path == "clic2020-mobile/bpg_444_x265_ycbcr.json" and mobile.sha256 is None
    assert "CLIC 2020 mobile test set (178 images)" in mobile.covers and "issues 81" in mobile.covers
    assert find_anchor("vtm", "clic2020-professional-test").path == "clic2020-professional/vtm.json"
    assert (
        find_anchor("mbt2018-mse-8bit", "clic2020-mobile-test").path
        == "8bit-decoded/clic2020-mobile/compressai-mbt2018_mse_ans_cuda.json"
    )
    assert find_anchor("mbt2018-mse-8bit", "clic2020-professional-test") is None  # CompressAI has none
    assert find_anchor("paper-mbt2018", "clic2020-mobile-test") is None and find_anchor("paper-mbt2018", "kodak")
    assert anchor_names("clic2020-professional-valid") == []  # CompressAI's CLIC results are on the test sets
    with pytest.raises(AnchorError, match=r"no published anchors for dataset 'tecnick': CompressAI publishes"):
        fetch_anchor("bpg", dataset="tecnick")


def test_a_file_without_a_published_hash_is_recorded_at_its_first_download_and_held_to_it(http_server, tmp_path,
                                                                                          monkeypatch):  # fmt: skip
    served = tmp_path / "served" / "clic2020-mobile"
    served.mkdir(parents=True)
    (served / "bpg_444_x265_ycbcr.json").write_text('{"name": "BPG", "results": {"bpp": [0.5, 1], "psnr": [30, 34]}}')
    monkeypatch.setenv("BENCH_ANCHORS_URL", http_server(folder=served.parent).base)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = fetch_anchor("bpg", dataset="clic2020-mobile-test")
    recorded = path.with_name(path.name + ".sha256").read_text().strip()
    assert recorded == sha256_file(served / "bpg_444_x265_ycbcr.json")
    assert fetch_anchor("bpg", offline=True, dataset="clic2020-mobile-test") == path  # checked against the record
    path.unlink()
    (served / "bpg_444_x265_ycbcr.json").write_text('{"name": "BPG", "results": {"bpp": [0.5, 1], "psnr": [31, 35]}}')
    with pytest.raises(AnchorError, match=r"sha256 .* not .* \(the expected sha256\)"):
        fetch_anchor("bpg", dataset="clic2020-mobile-test")
    assert not path.exists()


def test_a_report_takes_the_published_file_of_its_runs_dataset_and_says_what_it_covers(http_server, tmp_path,
                                                                                       monkeypatch, small_dataset):  # fmt: skip
    served = tmp_path / "served" / "clic2020-professional"
    served.mkdir(parents=True)
    (served / "vtm.json").write_text('{"name": "VTM", "results": {"bpp": [0.5, 1, 2, 4], "psnr": [30, 33, 37, 42]}}')
    env = {"BENCH_ANCHORS_URL": http_server(folder=served.parent).base, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    data = small_dataset.rename(
        small_dataset.with_name("clic2020-professional-test")
    )  # a run whose dataset has that name
    run = bench_cli("run", "--dataset", str(data), "--codec", "jpeg", "--quality", "30,60,90", "--out",
                    str(tmp_path / "run"), "--no-report", "-j", "1", env=env, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = bench_cli("report", str(tmp_path / "run"), "--reference", "vtm", "--bootstrap", "0", env=env, timeout=120)
    assert report.returncode == 0, report.stderr[-2000:]
    page = (tmp_path / "run" / "report" / "report.md").read_text()
    assert "clic2020-professional/vtm.json" in page
    assert "believed to be the CLIC 2020 professional test set (250 images)" in page
    other = bench_cli("report", str(tmp_path / "run"), "--reference", "mbt2018-mse-8bit", env=env, timeout=120)
    assert (
        other.returncode == 2
        and "unknown published anchor 'mbt2018-mse-8bit' for dataset 'clic2020-professional-test'" in other.stderr
    )
