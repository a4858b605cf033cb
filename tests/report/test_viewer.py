"""The report page's viewer (bench/report/viewer.py): which decodes it shows, that they are the very pixels the run
measured (from its saved reconstructions, else its saved bitstreams, else encoded again and checked), kept
losslessly, and refused with the reason where they cannot be had."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.analysis.bd_table import compared_columns
from bench.report.html import PAGE_FILE
from bench.report.viewer import VIEWER_DIR, ViewerChoice, build_viewer, chosen_images, viewer_images
from bench.report.writer import ReportConfig, load_curves, make_report
from bench_codecs.jpeg import JpegCodec
from conftest import quiet_run


def _page_data(out):
    text = (out / PAGE_FILE).read_text(encoding="utf-8")
    return json.loads(
        re.search(r'<script id="report-data" type="application/json">(.*?)</script>', text, re.S).group(1)
    )


def _pixels(out, key: str) -> np.ndarray:
    """The image in the viewer's script ``key`` (a lossless WebP data URI handed to benchViewerImage)."""
    script = (out / VIEWER_DIR / f"{key}.js").read_text(encoding="ascii")
    name, uri = re.fullmatch(r'benchViewerImage\("([^"]+)", "data:image/webp;base64,([^"]+)"\);\n', script).groups()
    assert name == key
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri))).convert("RGB"))


def _report(run, out, **options):
    make_report(ReportConfig(runs=(run,), out=out, bootstrap=0, **options))
    return _page_data(out)["viewer"]


def _viewer(run, out, images, bpps):
    """The viewer's document alone, as the report builds it (no figures, no page)."""
    curves = load_curves([run], [])
    return build_viewer(curves, compared_columns(curves), ViewerChoice(images, bpps), out)


def test_images_are_spread_over_the_run_in_name_order_or_named():
    names = [f"im{i:02d}.png" for i in range(24)]
    assert chosen_images(names, 2) == ["im00.png", "im12.png"]
    assert chosen_images(names, 3) == ["im00.png", "im08.png", "im16.png"]
    assert chosen_images(names[:1], 2) == ["im00.png"] and chosen_images(names, 0) == []
    assert chosen_images(names, ("im05.png", "other.png", "im01.png")) == ["im05.png", "im01.png"]
    assert viewer_images("0") == 0 and viewer_images("kodim04.png, kodim23.png") == ("kodim04.png", "kodim23.png")


def test_each_codec_shows_its_decode_nearest_each_rate_encoded_again_and_checked(tmp_path, small_run, small_dataset):
    viewer = _report(small_run, tmp_path / "report", viewer_bpp=(0.5, 1.5))
    assert [image["name"] for image in viewer["images"]] == ["crop01.png", "crop13.png"]  # 2 of 4, spread
    assert viewer["targets"] == [0.5, 1.5] and viewer["refused"] == []
    rows = {(r["codec"], r["image"], float(r["quality"])): float(r["bpp"])
            for r in __import__("csv").DictReader(open(small_run / "records.csv"))}  # fmt: skip
    shown = {(e["curve"], e["image"], t): e for e in viewer["entries"] for t in e["targets"]}
    assert len(shown) == 2 * 2 * 2  # every codec, image and rate
    jpeg = JpegCodec()
    for (codec, image, target), entry in shown.items():
        rates = {q: bpp for (c, i, q), bpp in rows.items() if (c, i) == (codec, image)}
        assert entry["bpp"] == rates[entry["quality"]]
        assert abs(entry["bpp"] - target) == min(abs(b - target) for b in rates.values())  # the nearest
        assert entry["source"] == "encoded again (same size), psnr_rgb equal to the run's"
        if codec == "jpeg":  # the very pixels: jpeg's decode of the image at that knob, kept losslessly
            original = np.asarray(Image.open(small_dataset / image).convert("RGB"))
            expected = jpeg.decode(jpeg.encode(original, entry["quality"]))
            np.testing.assert_array_equal(_pixels(tmp_path / "report", entry["key"]), expected)
            (key,) = [i["key"] for i in viewer["images"] if i["name"] == image]
            np.testing.assert_array_equal(_pixels(tmp_path / "report", key), original)
    written = sum(p.stat().st_size for p in (tmp_path / "report" / VIEWER_DIR).glob("*.js"))
    assert viewer["bytes"] == written and len(list((tmp_path / "report" / VIEWER_DIR).glob("*.js"))) == 2 + len(
        {e["key"] for e in viewer["entries"]}
    )


@pytest.fixture(scope="module")
def saved_run_original(tmp_path_factory, kodak_dir):
    images = tmp_path_factory.mktemp("saved-images")
    pixels = np.asarray(Image.open(kodak_dir / "kodim04.png").convert("RGB"))[:192, :256]
    Image.fromarray(np.ascontiguousarray(pixels)).save(images / "crop04.png")
    out = tmp_path_factory.mktemp("saved") / "run"
    quiet_run(dataset=str(images), codecs=("jpeg", "webp"), qualities=(30, 90), out=out, jobs=2,
              save_reconstructions=True, save_bitstreams=True)  # fmt: skip
    return out


@pytest.fixture
def saved_run(tmp_path, saved_run_original):
    """A copy of a run that saved its reconstructions and bitstreams (one image), for a test to change."""
    return Path(shutil.copytree(saved_run_original, tmp_path / "saved-run"))


def _sources(viewer) -> dict[tuple[str, str], str]:
    return {(e["curve"], e["image"]): e["source"].split(",")[0] for e in viewer["entries"]}


def test_saved_reconstructions_first_then_saved_bitstreams_then_encoding_again(tmp_path, saved_run):
    choice = (("crop04.png",), (1.0,))
    assert set(_sources(_viewer(saved_run, tmp_path / "a", *choice)).values()) == {"saved reconstruction"}
    shutil.rmtree(saved_run / "reconstructions" / "webp")
    assert _sources(_viewer(saved_run, tmp_path / "b", *choice)) == {
        ("jpeg", "crop04.png"): "saved reconstruction", ("webp", "crop04.png"): "saved bitstream"}  # fmt: skip
    shutil.rmtree(saved_run / "bitstreams" / "webp")
    viewer = _viewer(saved_run, tmp_path / "c", *choice)
    assert _sources(viewer)[("webp", "crop04.png")] == "encoded again (same size)"
    (entry,) = [e for e in viewer["entries"] if e["curve"] == "webp"]
    np.testing.assert_array_equal(_pixels(tmp_path / "b", entry["key"]), _pixels(tmp_path / "c", entry["key"]))


def test_a_decode_that_is_not_what_the_run_measured_is_refused_with_why(tmp_path, saved_run):
    choice = (("crop04.png",), (1.0,))
    shown = {e["curve"]: e for e in _viewer(saved_run, tmp_path / "a", *choice)["entries"]}
    # a saved reconstruction changed after the run
    jpeg_file = saved_run / "reconstructions" / "jpeg" / f"{shown['jpeg']['quality']:g}" / "crop04.png"
    pixels = np.asarray(Image.open(jpeg_file)).copy()
    pixels[0, 0] ^= 1
    Image.fromarray(pixels).save(jpeg_file)
    # webp encoded again: the run's store says another size, then another PSNR
    shutil.rmtree(saved_run / "reconstructions" / "webp")
    shutil.rmtree(saved_run / "bitstreams" / "webp")
    with sqlite3.connect(saved_run / "store.sqlite") as db:
        db.execute("UPDATE records SET bytes = bytes + 1 WHERE codec = 'webp' AND image = 'crop04.png'")
    viewer = _viewer(saved_run, tmp_path / "b", *choice)
    assert viewer["entries"] == []
    jpeg_why, webp_why = sorted(viewer["refused"])
    assert jpeg_why.startswith("jpeg at") and "has changed since the run saved it" in jpeg_why
    assert webp_why.startswith("webp at") and "encoded again, it takes" in webp_why and "the run measured" in webp_why
    with sqlite3.connect(saved_run / "store.sqlite") as db:
        db.execute("UPDATE records SET bytes = bytes - 1 WHERE codec = 'webp' AND image = 'crop04.png'")
        db.execute("UPDATE metric_values SET value = value + 0.01 WHERE codec = 'webp' AND image = 'crop04.png' "
                   "AND metric = 'psnr_rgb'")  # fmt: skip
    (webp_why,) = [r for r in _viewer(saved_run, tmp_path / "c", *choice)["refused"] if r.startswith("webp")]
    assert "psnr_rgb of this decode is" in webp_why


def test_no_viewer_when_asked_for_no_image_and_a_note_for_an_unknown_one(tmp_path, small_run):
    assert _report(small_run, tmp_path / "report", viewer_images=0) is None
    assert not (tmp_path / "report" / VIEWER_DIR).exists()
    viewer = _viewer(small_run, tmp_path / "named", ("crop04.png", "kodim04.png"), (1.0,))
    assert [i["name"] for i in viewer["images"]] == ["crop04.png"] and len(viewer["entries"]) == 2
    assert viewer["refused"] == ["kodim04.png: not an image of the report's runs (--viewer-images)"]


def test_a_run_whose_images_are_not_here_says_so_once(tmp_path, small_dataset):
    run = tmp_path / "run"
    quiet_run(dataset=str(small_dataset), codecs=("jpeg", "webp"), qualities=(30, 90), out=run, max_images=2)
    small_dataset.rename(tmp_path / "moved")
    viewer = _viewer(run, tmp_path / "out", 2, (0.5, 1.0))
    assert viewer["entries"] == [] and len(viewer["refused"]) == 1
    (refusal,) = viewer["refused"]
    assert refusal.startswith("4 decodes (jpeg at ") and "make the report where the run's images are" in refusal
