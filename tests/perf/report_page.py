"""The report page of a run, measured: ``bench report``'s wall time with and without the viewer, the page's size
(page, plotly.js, the viewer's images), its load time in headless Chromium (opened from disk until every
figure and the viewer are drawn; three loads, the first cold), console errors, and screenshots of the curves,
the per-image drill-down and the viewer at 1:1 and 4:1 (A | original | B) and its error maps.

    .venv/bin/python tests/perf/report_page.py results/kodak --out /tmp/page-check

Needs Debian's ``chromium`` and ``chromium-driver`` and Selenium (the test extra).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import machine


def _report(run: Path, out: Path, *extra: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench", "report", str(run), "--out", str(out), *extra], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1100"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


_DRAWN = ("return document.querySelectorAll('.main-svg').length > 0 && !!document.querySelector('.viewer-canvas') && "
          "document.getElementById('v-status').textContent === ''")  # fmt: skip


def _show(driver, url: str, section: str, shot: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(_DRAWN))
    driver.execute_script(f"document.getElementById('{section}').scrollIntoView()")
    time.sleep(0.5)  # plotly's transitions
    driver.save_screenshot(str(shot))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("/tmp/page-check"))
    args = parser.parse_args()
    print(machine())
    without = _report(args.run, args.out / "report-no-viewer", "--viewer-images", "0")
    report = args.out / "report"
    with_viewer = _report(args.run, report)
    print(f"bench report: {without:.1f} s without the viewer, {with_viewer:.1f} s with it")
    sizes = {name: _size(report / name) for name in ("index.html", "plotly.min.js", "viewer")}
    print(
        "size: "
        + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items())
        + f"; in all {_size(report) / 1e6:.1f} MB"
    )

    from selenium.webdriver.support.ui import WebDriverWait

    driver = _browser()
    try:
        page = (report / "index.html").as_uri()
        loads = []
        for _ in range(3):
            driver.get("about:blank")
            start = time.perf_counter()
            driver.get(page)
            WebDriverWait(driver, 60).until(lambda d: d.execute_script(_DRAWN))
            loads.append(time.perf_counter() - start)
        print("load until drawn: " + ", ".join(f"{t:.2f} s" for t in loads) + " (the first cold)")
        image, bpp = driver.execute_script("return [view.img, VIEWER.targets[0]]")
        a, b = driver.execute_script("return DATA.anchor"), _last_codec(driver)
        shots = args.out / "shots"
        shots.mkdir(exist_ok=True)
        _show(driver, page + "#x=linear", "rd-section", shots / "curves.png")
        _show(driver, page + f"#agg=per-image&codec={b}", "bd-section", shots / "drill-down.png")
        common = f"img={image}&a={a}&b={b}&bpp={bpp}"
        _show(driver, page + f"#{common}&zoom=1&layout=split", "viewer-section", shots / "viewer-1to1.png")
        _show(driver, page + f"#{common}&zoom=4&px=300&py=250&layout=side", "viewer-section", shots / "viewer-4to1.png")
        _show(driver, page + f"#{common}&zoom=4&px=300&py=250&layout=side&show=error&amp=4", "viewer-section",
              shots / "viewer-4to1-error.png")  # fmt: skip
        problems = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        print(f"console errors and warnings: {problems or 'none'}")
        print(f"screenshots: {shots} ({image}: {a} | {b} at {bpp} bpp)")
    finally:
        driver.quit()


def _last_codec(driver) -> str:
    """The run's learned codec the viewer has, else its last codec: the B side of the screenshots."""
    return driver.execute_script(
        "const curves = [...new Set(DATA.viewer.entries.map((e) => e.curve))];"
        "const learned = DATA.curves.filter((c) => c.kind === 'neural' && curves.includes(c.label));"
        "return learned.length ? learned[learned.length - 1].label : curves[curves.length - 1];"
    )


if __name__ == "__main__":
    main()
