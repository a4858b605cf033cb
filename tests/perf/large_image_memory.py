"""Peak memory of the learned codecs on one large image: `bench run -j 2` of a photo of CLIC 2020's largest size.

The largest CLIC 2020 images are 2048 x 1365 (landscape) and 1365 x 2048 (portrait). The script makes
such an image from Kodak (`kodak/` of $BENCH_DATA, by default ../shared/datasets): nine of Kodak's
landscape photos (768 x 512) tiled 3 x 3 (2304 x 1536) and resized with Pillow's LANCZOS to 2048 x 1365,
an RGB PNG alone in OUT/large/ (with --portrait also the same photo turned by 90 degrees, 1365 x 2048,
in OUT/large-portrait/). Then, for each codec, one after the other, it runs

    bench run --dataset OUT/large --codec CODEC [--quality Q1,Q2] -j 2 --out OUT/run-<codec> --no-report --offline

and samples the process tree of that command (bench run, its fork server, the measuring workers and
the fresh process that decodes again) every 50 ms: the sum of the processes' RSS (the peak of it is
the "tree RSS"; pages that forked processes share are counted once per process, so it is an upper
bound of what the tree costs) and, every 0.5 s, the sum of their PSS (shared pages split among the
processes). "Largest process" is the largest VmHWM (the kernel's own peak RSS of one process, not a
sample) of any process of the tree. Prints per codec the qualities run, those peaks in GiB, the wall
time of the command, its exit status and the number of records and failures, then bench run's summary
lines of each run.

Codecs: the learned ones of `bench codecs` (kind "neural"; default: all of them, the `-msssim` zoo
variants aside, which have the architectures of the MSE ones). A zoo codec (`compressai:<arch>`)
whose pretrained checkpoints are not in torch's hub cache (or every zoo codec, with
--random-weights) runs with randomly initialised weights: for each quality run, the model of
CompressAI's configuration of that quality (``compressai.zoo.image.cfgs``, ``torch.manual_seed(quality)``),
its state dict saved as OUT/checkpoints/<arch>/q<quality>.pth.tar, coded through the checkpoint codec
``compressai:<arch>:OUT/checkpoints/<arch>/`` (README "Your own CompressAI checkpoints"; it orders
the checkpoints by estimated rate, the table names them by the zoo quality they were made as). Memory
depends on the architecture and the image's size, not on the weights' values; the rates, and with
them the strings' sizes and the coding time, do not mean anything then. Zoo codecs run their lowest
and highest quality (the two configurations of each architecture, e.g. mbt2018: quality 1-4
N = M = 192, 5-8 M = 320); the others their whole sweep; --quality replaces both.

Usage, from the repository root (about 40 minutes on 2 CPUs for every learned codec; traditional codecs
can be named with --codec too):

    .venv/bin/python tests/perf/large_image_memory.py --out /tmp/bigmem
    .venv/bin/python tests/perf/large_image_memory.py --codec factorized-small,compressai:mbt2018 --portrait --out /tmp/bigmem
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import psutil
from PIL import Image

from _common import data_dir, machine

SIZE = (2048, 1365)  # CLIC 2020's largest images (width x height)
GIB = 2**30
SAMPLE_S = 0.05
PSS_EVERY = 10  # samples


def make_images(out: Path, portrait: bool) -> dict[str, Path]:
    """The large photo(s), each alone in its folder: {"landscape": folder, ["portrait": folder]}."""
    kodak = sorted((data_dir() / "kodak").glob("kodim*.png"))
    tiles = [im for im in (Image.open(p).convert("RGB") for p in kodak) if im.size == (768, 512)][:9]
    mosaic = Image.new("RGB", (3 * 768, 3 * 512))
    for i, tile in enumerate(tiles):
        mosaic.paste(tile, ((i % 3) * 768, (i // 3) * 512))
    large = mosaic.resize(SIZE, Image.Resampling.LANCZOS)
    shapes = {"landscape": large}
    if portrait:
        shapes["portrait"] = large.transpose(Image.Transpose.ROTATE_90)
    folders = {}
    for shape, image in shapes.items():
        folder = out / ("large" if shape == "landscape" else "large-portrait")
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        image.save(folder / f"clic-size-{image.width}x{image.height}.png")
        folders[shape] = folder
    return folders


def codec_entries() -> dict[str, object]:
    """name -> registry entry of every codec `bench codecs` lists."""
    from bench.api.codec_registry import discover

    return {e.cls.name: e for e in discover().entries()}


def is_learned(entry) -> bool:
    return getattr(entry.cls, "kind", "") == "neural"


def random_checkpoints(arch: str, qualities: list[int], folder: Path) -> None:
    """Randomly initialised models of CompressAI's configuration of each quality, saved as state dicts."""
    import torch

    zoo = __import__("compressai.zoo.image", fromlist=["image"])
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for q in qualities:
        torch.manual_seed(q)
        net = zoo.model_architectures[arch](*zoo.cfgs[arch][q])
        torch.save(net.state_dict(), folder / f"q{q}.pth.tar")


class TreeSampler:
    """Peaks of the memory of a process and all its descendants, sampled."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.rss = self.pss = 0
        self.hwm: dict[int, int] = {}  # pid -> VmHWM bytes
        self.largest = 0
        self.processes = 0
        self._n = 0

    def sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        self.processes = max(self.processes, len(procs))
        rss = pss = 0
        for p in procs:
            try:
                rss += p.memory_info().rss
                hwm = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{p.pid}/status").read_text())
                if hwm:
                    self.hwm[p.pid] = int(hwm.group(1)) * 1024
                if self._n % PSS_EVERY == 0:
                    pss += p.memory_full_info().pss
            except (psutil.Error, OSError):
                pass
        self.rss = max(self.rss, rss)
        if self._n % PSS_EVERY == 0:
            self.pss = max(self.pss, pss)
        self.largest = max(self.hwm.values(), default=0)
        self._n += 1


def run_one(name: str, codec: str, qualities: list | None, images: Path, out: Path, jobs: int) -> dict:
    run_dir = out / f"run-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}{'' if images.name == 'large' else '-portrait'}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    cmd = [sys.executable, "-m", "bench", "run", "--dataset", str(images), "--codec", codec, "-j", str(jobs),
           "--out", str(run_dir), "--no-report", "--no-progress", "--offline"]  # fmt: skip
    if qualities:
        cmd[cmd.index("-j"):cmd.index("-j")] = ["--quality", ",".join(map(str, qualities))]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = TreeSampler(proc.pid)
    lines: list[str] = []
    import threading

    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    while proc.poll() is None:
        sampler.sample()
        time.sleep(SAMPLE_S)
    wall = time.perf_counter() - start
    reader.join()
    (out / f"{run_dir.name}.log").write_text("".join(lines))
    records = failures = 0
    points: set[str] = set()
    if (run_dir / "records.csv").is_file():
        rows = list(csv.DictReader(open(run_dir / "records.csv")))
        records, points = len(rows), {r["quality"] for r in rows}
    if (run_dir / "failures.csv").is_file():
        failures = len(list(csv.DictReader(open(run_dir / "failures.csv"))))
    return {"name": name, "shape": "landscape" if images.name == "large" else "portrait", "command": "bench " + " ".join(cmd[3:]), "rc": proc.returncode, "wall": wall,
            "rss": sampler.rss, "pss": sampler.pss, "largest": sampler.largest, "processes": sampler.processes,
            "records": records, "points": len(points), "failures": failures, "log": "".join(lines)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--codec",
        default="",
        help="codecs, comma-separated (default: every learned codec; traditional ones may be named too)",
    )
    parser.add_argument("--quality", default="", help="qualities instead of the defaults (see above), all codecs")
    parser.add_argument("--out", type=Path, required=True, help="scratch folder (images, checkpoints, runs)")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--portrait", action="store_true", help="also the 1365 x 2048 photo")
    parser.add_argument("--random-weights", action="store_true",
                        help="zoo codecs with random weights even when their checkpoints are here")  # fmt: skip
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("BENCH_DATA", str(data_dir()))
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    folders = make_images(out, args.portrait)
    entries = codec_entries()
    names = [n.strip() for n in args.codec.split(",") if n.strip()] or [
        n for n, e in entries.items() if is_learned(e) and not n.endswith("-msssim")
    ]
    asked = [q for q in args.quality.split(",") if q]
    results, notes = [], []
    for name in names:
        entry = entries.get(name)
        if entry is None:
            notes.append(f"{name}: not a codec of `bench codecs`")
            continue
        cls = entry.cls
        arch = getattr(cls, "arch", None)
        sweep = [int(q) if float(q).is_integer() else q for q in cls.knob.sweep]
        codec, label = name, name
        if arch is not None:  # a zoo codec
            qualities = [int(q) for q in asked] or [min(sweep), max(sweep)]
            reason = entry.unavailable_reason()
            if reason or args.random_weights:
                folder = out / "checkpoints" / arch
                random_checkpoints(arch, qualities, folder)
                codec, label = f"compressai:{arch}:{folder}/", f"{name} (random weights)"
                notes.append(f"{name}: {'unavailable: ' + reason if reason else 'random weights asked'}; "
                             f"ran {codec} (zoo qualities {qualities}, ordered there by estimated rate)")  # fmt: skip
                qualities = None  # every checkpoint of the folder
            shown = [int(q) for q in asked] or [min(sweep), max(sweep)]
        else:
            if entry.unavailable_reason():
                notes.append(f"{name}: unavailable: {entry.unavailable_reason()}")
                continue
            qualities = asked or None
            shown = asked or sweep
        for shape, folder in folders.items():
            result = run_one(name, codec, qualities, folder, out, args.jobs)
            result["label"], result["qualities"] = label, ",".join(map(str, shown))
            results.append(result)
            print(f"{label} {shape}: exit {result['rc']}, tree RSS {result['rss'] / GIB:.2f} GiB, "
                  f"{result['wall']:.0f} s", file=sys.stderr, flush=True)  # fmt: skip

    print(f"machine: {machine()}, {psutil.virtual_memory().total / GIB:.1f} GiB")
    print(f"image: {SIZE[0]} x {SIZE[1]} from 9 Kodak photos (LANCZOS); bench run -j {args.jobs}; "
          f"RSS sampled every {SAMPLE_S * 1000:.0f} ms, PSS every {SAMPLE_S * PSS_EVERY:.1f} s")  # fmt: skip
    print("codec | shape | qualities | points | tree RSS GiB | tree PSS GiB | largest process GiB | processes | "
          "wall s | exit | records | failures")  # fmt: skip
    for r in results:
        print(f"{r['label']} | {r['shape']} | {r['qualities']} | {r['points']} | {r['rss'] / GIB:.2f} | "
              f"{r['pss'] / GIB:.2f} | {r['largest'] / GIB:.2f} | {r['processes']} | {r['wall']:.0f} | {r['rc']} | "
              f"{r['records']} | {r['failures']}")  # fmt: skip
    for note in notes:
        print(note)
    for r in results:
        print(f"\n$ {r['command']}")
        print(r["log"].rstrip())


if __name__ == "__main__":
    main()
