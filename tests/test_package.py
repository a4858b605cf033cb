"""codec-bench as a package: ``python -m build`` makes an sdist and a wheel that hold what they must, and the
wheel installed into a new virtual environment (not the checkout) runs: ``bench --version`` names the commit
it was built from, ``bench codecs`` lists the shipped learned codecs, and a two-image run measures."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, require_module

require_module("build", "building the sdist and the wheel (the test extra)")
pytestmark = pytest.mark.slow

#: Files the wheel must hold (package data): without them an installed bench cannot run its defaults.
WHEEL_MUST_HOLD = (
    "bench/_build.json",
    "bench/analysis/anchors.json",
    "bench/report/assets/viewer.js",
    "bench_datasets/kodak.json",
    "bench_codecs/weights/mean-scale-small/family.json",
    "bench_codecs/weights/factorized-small/family.json",
)


def _source_copy(folder: Path) -> Path:
    """The checkout as it is now (tracked and untracked files that git does not ignore) with its git history,
    in ``folder``: what a clone with these changes would build."""
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(folder)], check=True)
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("package")
    source = _source_copy(tmp / "source")
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp / "dist"), str(source)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=source,
                                capture_output=True, text=True).stdout.strip())  # fmt: skip
    return {"tmp": tmp, "wheel": next((tmp / "dist").glob("*.whl")), "sdist": next((tmp / "dist").glob("*.tar.gz")),
            "commit": commit, "dirty": dirty}  # fmt: skip


def test_the_wheel_and_the_sdist_hold_what_they_must(built):
    from bench import __version__

    assert built["wheel"].name == f"codec_bench-{__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(built["wheel"]).namelist())
    missing = [name for name in WHEEL_MUST_HOLD if name not in names]
    assert not missing, missing
    assert any(n.startswith("bench_codecs/weights/mean-scale-small/") and n.endswith(".safetensors") for n in names)
    assert not any(n.startswith(("tests/", "docs/")) for n in names)
    record = json.loads(zipfile.ZipFile(built["wheel"]).read("bench/_build.json"))
    assert record == {"commit": built["commit"], "dirty": built["dirty"]}
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "bench = bench.cli:main" in zipfile.ZipFile(built["wheel"]).read(entry_points).decode()
    with tarfile.open(built["sdist"]) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE", "CHANGELOG.md", "bench/_build.json",
                 "bench_datasets/kodak.json"):  # fmt: skip
        assert name in members, name


def test_the_wheel_installed_in_a_new_environment_runs(built, small_dataset):
    tmp = built["tmp"]
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())  # fmt: skip
    # its dependencies: the test environment's packages (locked, already installed), not downloaded again
    (site / "test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(built["wheel"])], check=True)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    bench = [str(venv / "bin" / "bench")]

    def call(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([*bench, *args], cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done

    where = subprocess.run([str(python), "-c", "import bench; print(bench.__file__)"], cwd=tmp, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert where.startswith(str(site)), where  # the installed package, not the checkout
    version = call("--version").stdout
    assert built["commit"][:12] in version and version.startswith("codec-bench ")
    listed = call("codecs").stdout
    for codec in ("jpeg", "mean-scale-small", "factorized-small"):  # the shipped weights are in the wheel
        assert re.search(rf"^{codec}\n? +available", listed, re.M), listed
    out = tmp / "run"
    images = sorted(small_dataset.iterdir())[:2]
    two = tmp / "two"
    two.mkdir()
    for image in images:
        shutil.copy2(image, two / image.name)
    call("run", "--dataset", str(two), "--codec", "jpeg,mean-scale-small", "--quality", "2", "--out", str(out),
         "--no-progress")  # fmt: skip
    with open(out / "records.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["codec"], r["image"]) for r in rows} == {
        (c, i.name) for c in ("jpeg", "mean-scale-small") for i in images
    }
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["git"] == {"commit": built["commit"], "dirty": built["dirty"], "source": "build"}
    assert (out / "report" / "index.html").is_file()
