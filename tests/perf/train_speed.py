"""``bench train`` against CompressAI's own trainer (``examples/train.py``): optimiser steps per second on
the same model, data, batch, crop and device, side by side in one run.

CompressAI's trainer is not in its wheel; it is in the source distribution::

    pip download --no-deps --no-binary :all: compressai==1.2.8 -d /tmp/sdist
    tar xzf /tmp/sdist/compressai-1.2.8.tar.gz -C /tmp/sdist
    python tests/perf/train_speed.py --data ../shared/datasets/train/bsds500 \\
        --compressai-train /tmp/sdist/compressai-1.2.8/examples/train.py --device cuda --steps 300

What is timed, for each trainer, from its first batch to its last optimiser step (the device
synchronised), the data loading included and start-up (imports, model building, reading the
images) and validation left out:

- ``bench train``: a subprocess ``bench train --steps S --val-every S`` per architecture, its own
  record of steps per second (``steps_per_second`` in ``family.json``, validation left out): data as
  random crops from images held in memory, sampled in the training process.
- CompressAI's ``examples/train.py``: its ``train_one_epoch`` with its ``ImageFolder`` (``train/``
  split), ``RandomCrop`` + ``ToTensor``, ``DataLoader`` (shuffled, ``--num-workers`` workers, pinned
  memory on a GPU), ``RateDistortionLoss``, ``configure_optimizers`` and clipping, run for S batches
  (epochs chained when the split has fewer; a new epoch starts its workers again, as theirs does).

The model is the same class for both: compressai's ``MeanScaleHyperprior(N, M)`` (``mbt2018-mean``;
N=128, M=192 is its quality 1-5), ``bench train --arch mean-scale-float``. ``bench train --arch
mean-scale`` (the portable model, integer hyper-synthesis) is timed too: what its integer ``h_s``
costs. Same losses (lambda * 255^2 * MSE + bpp), Adam at 1e-4 / aux 1e-3, gradients clipped at 1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = ("mean-scale-float", "mean-scale")


def ours(args, arch: str, work: Path) -> dict:
    """Steps per second of ``bench train`` (a fresh process) on ``arch``."""
    out = work / arch
    cmd = [sys.executable, "-m", "bench", "train", "--data", str(args.data), "--out", str(out), "--arch", arch,
           "--N", str(args.N), "--M", str(args.M), "--lambdas", str(args.lmbda), "--steps", str(args.steps),
           "--val-every", str(args.steps), "--batch-size", str(args.batch_size), "--crop", str(args.crop),
           "--device", args.device, "--no-progress", "--seed", "0"]  # fmt: skip
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"bench train failed:\n{result.stderr[-3000:]}")
    (model,) = json.loads((out / "family.json").read_text())["models"]
    return {"trainer": "bench train", "arch": arch, "steps": model["steps"],
            "steps_per_second": model["steps_per_second"], "device": model["device"],
            "wall_s": round(time.perf_counter() - started, 1)}  # fmt: skip


class _Batches:
    """``n`` batches of ``loader``, epochs chained: what their ``train_one_epoch`` iterates over."""

    def __init__(self, loader, n: int):
        self.loader, self.n, self.dataset = loader, n, loader.dataset

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        count = 0
        while True:
            for batch in self.loader:
                yield batch
                count += 1
                if count == self.n:
                    return


def theirs(args) -> dict:
    """Steps per second of CompressAI's ``examples/train.py`` (its functions, in this process)."""
    import torch
    from torch.utils.data import DataLoader

    spec = importlib.util.spec_from_file_location("compressai_examples_train", args.compressai_train)
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    from compressai.models import MeanScaleHyperprior

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if args.device == "cuda" else "cpu"
    transform = train.transforms.Compose([train.transforms.RandomCrop(args.crop), train.transforms.ToTensor()])
    dataset = train.ImageFolder(str(args.data), split="train", transform=transform)
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.num_workers, shuffle=True,
                        pin_memory=(device == "cuda"))  # fmt: skip
    net = MeanScaleHyperprior(N=args.N, M=args.M).to(device)
    options = argparse.Namespace(learning_rate=1e-4, aux_learning_rate=1e-3)
    optimizer, aux_optimizer = train.configure_optimizers(net, options)
    criterion = train.RateDistortionLoss(lmbda=args.lmbda)
    with contextlib.redirect_stdout(io.StringIO()):  # its progress lines
        started = time.perf_counter()
        train.train_one_epoch(net, criterion, _Batches(loader, args.steps), optimizer, aux_optimizer, 0, 1.0)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    return {"trainer": "compressai examples/train.py", "arch": "mean-scale-float (MeanScaleHyperprior)",
            "steps": args.steps, "steps_per_second": round(args.steps / seconds, 2),
            "device": torch.cuda.get_device_name(0) if device == "cuda" else f"CPU ({torch.get_num_threads()} threads)",
            "wall_s": round(seconds, 1), "train_images": len(dataset), "num_workers": args.num_workers}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="BSDS500-style folder (train/ for CompressAI)")
    parser.add_argument("--compressai-train", type=Path, required=True, help="compressai's examples/train.py")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--N", type=int, default=128)
    parser.add_argument("--M", type=int, default=192)
    parser.add_argument("--lmbda", type=float, default=0.0067)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--num-workers", type=int, default=4, help="CompressAI's data loader workers (theirs: 4)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.data = args.data.resolve()
    if not args.compressai_train.is_file():
        sys.exit(f"{args.compressai_train}: no such file (see this script's docstring)")

    import compressai
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in OURS:
            rows.append(ours(args, arch, Path(tmp)))
    rows.append(theirs(args))
    base = rows[-1]["steps_per_second"]
    print(f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; torch "
          f"{torch.__version__}, compressai {compressai.__version__}; N={args.N} M={args.M}, batch "
          f"{args.batch_size} of {args.crop}x{args.crop}, {args.steps} steps, lambda {args.lmbda}")  # fmt: skip
    print(f"{'trainer':30} {'model':40} {'steps/s':>8} {'vs theirs':>9}  device")
    for row in rows:
        print(f"{row['trainer']:30} {row['arch']:40} {row['steps_per_second']:8.2f} "
              f"{row['steps_per_second'] / base:8.2f}x  {row['device']}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
