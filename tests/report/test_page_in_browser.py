"""The report page in a real browser: Debian's chromium, headless, driven through its chromedriver by Selenium.

A small real run (jpeg and webp on four Kodak crops, reconstructions saved) is reported; its page is opened from
disk and must draw the curves, restore a view from its URL and show, in the viewer, exactly the pixels of the
run's reconstructions and of the original, at 1:1 and 4:1, with an error map computed from them; and nothing may
go wrong in the browser's console (a JavaScript error or a file that failed to load)."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

from bench.report.html import PAGE_FILE
from bench.report.writer import ReportConfig, make_report
from conftest import quiet_run, require

CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    require(shutil.which("chromium") is not None and CHROMEDRIVER is not None,
            "Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")  # fmt: skip
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # Debian's driver: nothing downloaded
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def report(tmp_path_factory, kodak_dir):
    folder = tmp_path_factory.mktemp("browser")
    images = folder / "images"
    images.mkdir()
    for i in (1, 13):
        pixels = np.asarray(Image.open(kodak_dir / f"kodim{i:02d}.png").convert("RGB"))[:192, :256]
        Image.fromarray(np.ascontiguousarray(pixels)).save(images / f"crop{i:02d}.png")
    run = folder / "run"
    quiet_run(dataset=str(images), codecs=("jpeg", "webp"), qualities=(10, 30, 60, 90), out=run,
              save_reconstructions=True, jobs=2)  # fmt: skip
    made = make_report(ReportConfig(runs=(run,), out=folder / "report", bootstrap=0))
    return run, images, made.out


def _open(driver, url: str) -> None:
    driver.get(url)
    driver.get_log("browser")  # what an earlier page left
    driver.refresh()
    _settled(driver)


def _settled(driver) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "return document.querySelectorAll('.main-svg').length > 0 && !!document.querySelector('.viewer-canvas')"
        " && document.getElementById('v-status').textContent === ''"))  # fmt: skip


def _choose(driver, select_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", select_id)).select_by_value(value)
    _settled(driver)


def _pixel(driver, canvas_id: str, x: int, y: int) -> list[int]:
    return driver.execute_script(
        f"return Array.from(document.getElementById('{canvas_id}').getContext('2d').getImageData({x}, {y}, 1, 1)"
        ".data.slice(0, 3));"
    )


def _view(driver) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(driver.current_url).fragment).items()}


def _problems(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def _reconstruction(run: Path, codec: str, quality: str, image: str) -> np.ndarray:
    return np.asarray(Image.open(run / "reconstructions" / codec / quality / f"{Path(image).stem}.png").convert("RGB"))


def test_the_page_draws_its_curves_and_restores_the_view_in_its_url(browser, report):
    run, _, out = report
    _open(
        browser,
        (out / PAGE_FILE).as_uri()
        + "#anchor=webp&agg=per-image&x=log&codec=webp&img=crop13.png&a=webp&b=jpeg&bpp=1&zoom=2",
    )
    assert _problems(browser) == []
    rd_points = browser.execute_script("return document.querySelectorAll('#rd-plots .point.plotly-customdata').length")
    assert rd_points == 2 * 4 * 3  # jpeg and webp, 4 qualities, 3 compared metrics
    assert browser.find_element("id", "anchor").get_attribute("value") == "webp"
    assert browser.find_element("id", "xaxis").get_attribute("value") == "log"
    assert len(browser.find_elements("css selector", "#image-table tr[data-image]")) == 2  # webp's drill-down
    assert [browser.find_element("id", i).get_attribute("value") for i in ("v-image", "v-a", "v-b", "v-bpp", "v-zoom")] \
        == ["crop13.png", "webp", "jpeg", "1", "2"]  # fmt: skip
    assert (
        "knob" in browser.find_element("id", "v-label-a").text and "bpp" in browser.find_element("id", "v-label-b").text
    )


def test_the_viewer_shows_the_runs_own_pixels_at_1_1_and_4_1(browser, report):
    run, images, out = report
    _open(browser, (out / PAGE_FILE).as_uri())
    _choose(browser, "v-image", "crop01.png")
    _choose(browser, "v-a", "jpeg")
    _choose(browser, "v-b", "webp")
    _choose(browser, "v-layout", "side")
    view = _view(browser)
    assert (view["img"], view["a"], view["b"], view["zoom"], view["layout"]) == (
        "crop01.png",
        "jpeg",
        "webp",
        "1",
        "side",
    )
    labels = browser.find_element("id", "v-label-a").text, browser.find_element("id", "v-label-b").text
    knob_a, knob_b = (label.split("knob ")[1].split(",")[0] for label in labels)
    decoded_a = _reconstruction(run, "jpeg", knob_a, "crop01.png")
    decoded_b = _reconstruction(run, "webp", knob_b, "crop01.png")
    original = np.asarray(Image.open(images / "crop01.png").convert("RGB"))
    assert not np.array_equal(decoded_a, original)
    for x, y in ((0, 0), (37, 101), (200, 150)):
        assert _pixel(browser, "v-canvas-a", x, y) == decoded_a[y, x].tolist()
        assert _pixel(browser, "v-canvas-original", x, y) == original[y, x].tolist()
        assert _pixel(browser, "v-canvas-b", x, y) == decoded_b[y, x].tolist()
    browser.find_element("tag name", "body").send_keys("f")  # flip: A and B show the original
    assert (
        _pixel(browser, "v-canvas-a", 37, 101) == _pixel(browser, "v-canvas-b", 37, 101) == original[101, 37].tolist()
    )
    browser.find_element("tag name", "body").send_keys("f")
    assert _pixel(browser, "v-canvas-a", 37, 101) == decoded_a[101, 37].tolist()

    _choose(browser, "v-zoom", "4")
    view = _view(browser)
    left, top = int(view["px"]), int(view["py"])
    for i, j in ((0, 0), (5, 7), (20, 11)):
        for dx, dy in ((0, 0), (3, 2)):  # every screen pixel of an image pixel's 4x4 block: nearest neighbour
            assert _pixel(browser, "v-canvas-a", 4 * i + dx, 4 * j + dy) == decoded_a[top + j, left + i].tolist()
            assert _pixel(browser, "v-canvas-b", 4 * i + dx, 4 * j + dy) == decoded_b[top + j, left + i].tolist()

    _choose(browser, "v-show", "error")
    _choose(browser, "v-amp", "16")
    error = np.abs(decoded_a.astype(int) - original.astype(int)).mean(axis=2) * 16
    expected = np.minimum(255, np.floor(error + 0.5)).astype(int)  # JavaScript's Math.round
    for i, j in ((0, 0), (5, 7), (20, 11)):
        assert _pixel(browser, "v-canvas-a", 4 * i, 4 * j) == [expected[top + j, left + i]] * 3
    assert browser.find_element("id", "v-scale").is_displayed()

    # the URL restores that view in a new page
    _open(browser, browser.current_url)
    assert _view(browser)["show"] == "error" and _view(browser)["zoom"] == "4"
    assert _pixel(browser, "v-canvas-a", 4 * 5, 4 * 7) == [expected[top + 7, left + 5]] * 3
    assert _problems(browser) == []
