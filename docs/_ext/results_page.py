"""Measured results in the docs and the README, from stored runs: no number typed by hand.

A stored run is a folder of ``docs/results/`` made from a run folder by ``store``::

    python docs/_ext/results_page.py store RUN_FOLDER NAME   # e.g. results/kodak kodak-default
    python docs/_ext/results_page.py readme                  # the README's block, from the stored runs

It holds ``summary.csv`` (the run's), ``bd_rate.csv`` and ``rd_psnr_rgb.png`` (``bench report --figures``
of the run: BD-rates against JPEG with their intervals, the RD figure) and ``provenance.json`` (the run's
command, codec-bench version and commit, each invocation's times and environment, each codec's settings
and versions, each metric's convention, the dataset's name and images). :func:`results_page` renders the
docs page of every stored run; :func:`readme_block` the README's table (``<!-- results: ... -->``), which
``tests/docs/test_docs.py`` checks against the stored run.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "docs" / "results"
README_BLOCK = re.compile(r"(<!-- results: .*? -->\n)(.*?)(<!-- /results -->)", re.S)
#: The BD-rate columns shown, in order: (metric column of bd_rate.csv, heading).
BD_COLUMNS = (("psnr_rgb", "PSNR-RGB"), ("psnr_y", "Y-PSNR"), ("ms_ssim_db", "MS-SSIM (dB)"))


# --- storing a run ---------------------------------------------------------------------------------------


#: What a stored run keeps of each invocation in run.json.
_INVOCATION_KEYS = ("command", "started", "finished", "status", "measured", "failed", "environment", "setup_s",
                    "measure_s")  # fmt: skip


def _without_paths(value):
    """``value`` (JSON) with each absolute path (a program's, say) cut to its file name: a stored run is
    committed, and this machine's folders mean nothing elsewhere."""
    if isinstance(value, dict):
        return {key: _without_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_paths(item) for item in value]
    if isinstance(value, str) and value.startswith("/") and "/" in value[1:]:
        return Path(value).name
    return value


def _provenance(run_json: dict) -> dict:
    """What the page says about a run: run.json without the per-image details and machine paths."""
    dataset = run_json.get("dataset") or {}
    codecs = run_json.get("codecs") or {}
    return _without_paths({
        "command": run_json.get("command"),
        "codec_bench_version": run_json.get("codec_bench_version"),
        "git": run_json.get("git"),
        "config": run_json.get("config"),
        "dataset": {"name": dataset.get("name"), "images": len(dataset.get("images") or [])},
        "codecs": {name: {k: c.get(k) for k in ("kind", "settings", "versions")} for name, c in codecs.items()},
        "metrics": run_json.get("metrics"),
        "invocations": [{k: i.get(k) for k in _INVOCATION_KEYS} for i in run_json.get("invocations") or []],
    })  # fmt: skip


def store(run: Path, name: str) -> Path:
    """Store the run folder ``run`` as ``docs/results/<name>/`` (see the module docstring)."""
    out = RESULTS / name
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "summary.csv", out / "summary.csv")
    run_json = json.loads((run / "run.json").read_text(encoding="utf-8"))
    (out / "provenance.json").write_text(json.dumps(_provenance(run_json), indent=1) + "\n", encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "bench", "report", str(run), "--out", tmp, "--viewer-images", "0",
                        "--metric", "psnr_rgb,psnr_y,ms_ssim_db"], check=True, capture_output=True)  # fmt: skip
        for file in ("bd_rate.csv", "rd_psnr_rgb.png"):
            shutil.copyfile(Path(tmp) / file, out / file)
    return out


# --- rendering -------------------------------------------------------------------------------------------


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def provenance_line(folder: Path) -> str:
    """One sentence: the command, version, commit, date, wall time and machine of a stored run."""
    info = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    last = info["invocations"][-1]
    env = last["environment"]
    git = info.get("git") or {}
    commit = f"commit `{git['commit'][:12]}`" if git.get("commit") else "commit not recorded"
    if git.get("dirty"):
        commit += " with uncommitted changes"
    took = (_when(last["finished"]) - _when(last["started"])).total_seconds()
    return (f"`bench run --dataset {info['dataset']['name']}`{' (the default run)' if _is_default(info) else ''}, "
            f"codec-bench {info['codec_bench_version']} ({commit}), {info['dataset']['images']} images, finished "
            f"{last['finished'][:16].replace('T', ' ')} UTC after {_duration(took)} on {env['cpu']} "
            f"({env['cpus_available']} CPUs, `-j {info['config']['jobs']}`), Python {env['python']}")  # fmt: skip


def _is_default(info: dict) -> bool:
    config = info.get("config") or {}
    return config.get("codecs") is None and config.get("qualities") is None and config.get("max_images") is None


def bd_table(folder: Path) -> str:
    """BD-rates (mean curves) against the report's anchor, with their 95% intervals and image counts."""
    rows = [r for r in _rows(folder / "bd_rate.csv") if r["aggregation"] == "mean-curve"]
    anchor = rows[0]["anchor"] if rows else "jpeg"
    codecs = list(dict.fromkeys(r["codec"] for r in rows))
    by = {(r["codec"], r["metric"]): r for r in rows}
    head = f"| codec | {' | '.join(f'BD-rate {label} vs {anchor}' for _, label in BD_COLUMNS)} | images |"
    lines = [head, "| --- " * (len(BD_COLUMNS) + 2) + "|"]
    for codec in sorted(codecs, key=lambda c: float(by.get((c, "psnr_rgb"), {}).get("bd_rate") or "nan")):
        cells = []
        for metric, _ in BD_COLUMNS:
            row = by.get((codec, metric))
            if row is None or not row["bd_rate"] or row["bd_rate"] == "nan":
                cells.append("n/a")
                continue
            interval = f" [{float(row['ci_low']):.1f}, {float(row['ci_high']):.1f}]" if row["ci_low"] else ""
            cells.append(f"{float(row['bd_rate']):+.1f}%{interval}")
        images = by.get((codec, "psnr_rgb"), {}).get("images", "")
        lines.append(f"| {codec} | {' | '.join(cells)} | {images} |")
    return "\n".join(lines) + "\n"


def codec_table(folder: Path) -> str:
    """Per codec: settings measured, images, bpp, PSNR-RGB and MS-SSIM ranges, mean encode/decode time."""
    rows = _rows(folder / "summary.csv")
    lines = ["| codec | settings | images | bpp | PSNR-RGB (dB) | MS-SSIM | encode ms | decode ms |",
             "| --- " * 8 + "|"]  # fmt: skip
    for codec in dict.fromkeys(r["codec"] for r in rows):
        mine = [r for r in rows if r["codec"] == codec]

        def span(key: str, fmt: str, rows=mine) -> str:
            values = [float(r[key]) for r in rows if r.get(key)]
            return f"{min(values):{fmt}}-{max(values):{fmt}}" if values else "n/a"

        def mean_ms(key: str, rows=mine) -> str:
            values = [float(r[key]) for r in rows if r.get(key)]
            return f"{1e3 * sum(values) / len(values):.1f}" if values else "n/a"

        images = sorted({int(r["images"]) for r in mine})
        lines.append(f"| {codec} | {len(mine)} | {'-'.join(map(str, (images[0], images[-1])[: len(set(images))]))} | "
                     f"{span('bpp', '.3f')} | {span('psnr_rgb', '.2f')} | {span('ms_ssim_rgb', '.4f')} | "
                     f"{mean_ms('encode_s')} | {mean_ms('decode_s')} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def versions_table(folder: Path) -> str:
    """Each codec's library versions and settings as the run recorded them."""
    info = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    lines = ["| codec | versions | settings |", "| --- | --- | --- |"]
    for name, codec in info["codecs"].items():
        versions = ", ".join(f"{k} {v}" for k, v in (codec.get("versions") or {}).items())
        settings = ", ".join(f"{k}={v}" for k, v in (codec.get("settings") or {}).items()
                             if not isinstance(v, (list, dict)))  # fmt: skip
        lines.append(f"| {name} | {versions.replace('|', '/')} | {settings.replace('|', '/')} |")
    packages = info["invocations"][-1]["environment"].get("packages") or {}
    lines += ["", "Python packages: " + ", ".join(f"{k} {v}" for k, v in packages.items()) + "."]
    return "\n".join(lines) + "\n"


def results_page(results: Path = RESULTS, to_docs: str = "") -> str:
    """The docs page of every stored run under ``results``; ``to_docs``: the path from the page to ``docs/``."""
    lines = ["# Measured results", "",
             "Every number on this page is read from a stored run in `docs/results/` when the documentation is "
             "built (`docs/_ext/results_page.py`); a run is stored with `python docs/_ext/results_page.py store "
             "RUN NAME`. Times are of the machine named, with the run's `-j` workers: measure yours with the "
             "same command.", ""]  # fmt: skip
    for folder in sorted(p for p in results.iterdir() if (p / "provenance.json").is_file()):
        lines += [f"## {folder.name}", "", provenance_line(folder) + ".", "",
                  "### BD-rate", "", "Mean curves over the images both codecs measured, PCHIP (JVET's "
                  "convention), 95% bootstrap intervals over images; negative: fewer bits for the same quality "
                  f"([how]({to_docs}guides/paper.md)).", "", bd_table(folder),
                  f"![RD curves, PSNR-RGB]({to_docs}results/{folder.name}/rd_psnr_rgb.png)", "",
                  "### Per codec", "", "Means over the images at each setting; times are one call's wall time.",
                  "", codec_table(folder), "### Versions and settings", "", versions_table(folder)]  # fmt: skip
    return "\n".join(lines)


def readme_block(folder: Path) -> str:
    """The README's measured table: the BD-rates of a stored run, its figure and where they come from."""
    rel = folder.relative_to(REPO).as_posix()
    measured = textwrap.fill(f"Measured: {provenance_line(folder)}.", width=110, break_on_hyphens=False)
    return f"{bd_table(folder)}\n![RD curves of the default run, PSNR-RGB]({rel}/rd_psnr_rgb.png)\n\n{measured}\n"


def update_readme(folder: Path = RESULTS / "kodak-default") -> bool:
    """Write :func:`readme_block` into the README's results block; True when it changed."""
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    new = README_BLOCK.sub(lambda m: m.group(1) + readme_block(folder) + m.group(3), text)
    readme.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    if sys.argv[1:2] == ["store"] and len(sys.argv) == 4:
        print(store(Path(sys.argv[2]), sys.argv[3]))
    elif sys.argv[1:] == ["readme"]:
        print("README updated" if update_readme() else "README unchanged")
    else:
        sys.exit(__doc__)
