"""The ``bench`` command: ``bench run``, ``bench codecs``, ``bench datasets``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench import __version__

EXIT_OK, EXIT_FAILURES, EXIT_SETUP = 0, 1, 2


def _setup_error(command: str, exc: Exception) -> int:
    """Say why ``bench <command>`` cannot start; the exit status for that."""
    print(f"bench {command}: {exc}", file=sys.stderr)
    return EXIT_SETUP


def _comma_list(text: str) -> tuple[str, ...]:
    items = tuple(s.strip() for s in text.split(",") if s.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(s) for s in _comma_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _add_plugin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin", action="append", default=[], metavar="FILE.py",
        help="load codecs from a Python file (repeatable); see README 'Adding a codec'",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    from bench.tasks import default_jobs

    parser = argparse.ArgumentParser(prog="bench", description="Rate-distortion benchmarks of image codecs.")
    parser.add_argument("--version", action="version", version=f"codec-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="measure codecs over a dataset",
        description="Sweep each codec's quality knob over a dataset and record bpp, PSNR, MS-SSIM and timings per image.",
    )
    run.add_argument(
        "--dataset",
        default="kodak",
        help="dataset name (see `bench datasets`) or a folder of PNG/JPEG/TIFF images (default: kodak)",
    )
    run.add_argument(
        "--codec",
        type=_comma_list,
        default=None,
        metavar="A,B",
        help="codecs to run (default: every available codec of the default run; see `bench codecs`)",
    )
    run.add_argument(
        "--quality",
        type=_float_list,
        default=None,
        metavar="Q1,Q2",
        help="knob values instead of each codec's default sweep",
    )
    run.add_argument("--out", type=Path, default=None, help="run folder (default: results/<name>)")
    run.add_argument("--name", default=None, help="run name for the default folder (default: the dataset's name)")
    run.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where named datasets live (default: $BENCH_DATA, else ~/.cache/codec-bench/datasets)",
    )
    run.add_argument(
        "--offline", action="store_true", help="never download: fail if the dataset is not already in the data root"
    )
    run.add_argument(
        "--repeat", type=_positive_int, default=1, help="time encode/decode N times and keep the median (default: 1)"
    )
    run.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        default=default_jobs(),
        help=f"worker processes (default: CPUs available, here {default_jobs()})",
    )
    run.add_argument(
        "--max-images", type=_positive_int, default=None, help="use only the first N images of the dataset"
    )
    run.add_argument(
        "--save-reconstructions", action="store_true", help="keep decoded images as PNG under <run>/reconstructions/"
    )
    run.add_argument("--save-bitstreams", action="store_true", help="keep the coded files under <run>/bitstreams/")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_plugin_option(run)

    run.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        default="cpu",
        help="where learned codecs run (default: cpu; auto = cuda when available); traditional codecs use the CPU",
    )
    run.add_argument("--no-report", action="store_true", help="do not write <run>/report/ at the end")
    run.add_argument("--anchor", default=None, help="anchor codec of the report's BD-rate table (default: jpeg)")

    report = sub.add_parser(
        "report",
        help="BD-rate tables and RD figures from runs and published curves",
        description="BD-rate tables (CSV, Markdown, LaTeX), RD and speed figures (PNG, PDF, SVG) and report.md.",
    )
    report.add_argument("runs", nargs="*", type=Path, metavar="RUN", help="run folders (results/<name>)")
    report.add_argument(
        "--reference",
        action="extend",
        nargs="+",
        default=[],
        type=Path,
        metavar="FILE.json",
        help="CompressAI results files to overlay and compare with (shell globs welcome)",
    )
    report.add_argument(
        "--anchor", default=None, help="curve (codec or label) the BD-rates are against (default: jpeg)"
    )
    report.add_argument("--out", type=Path, default=None, help="report folder (default: <first run>/report)")
    report.add_argument(
        "--method",
        choices=("pchip", "cubic", "akima"),
        default="pchip",
        help="BD interpolation (default: pchip, as JVET)",
    )
    report.add_argument(
        "--width", choices=("single", "double"), default="single", help="figure width: one or two paper columns"
    )
    report.add_argument(
        "--max-bpp", type=float, default=2.0, help="right end of the rate axis (default: 2; 0 for no limit)"
    )
    report.add_argument("--per-image", action="store_true", help="also draw per-image curves")

    export = sub.add_parser("export", help="write a run's curves in CompressAI's results format")
    export.add_argument("run", type=Path, metavar="RUN")
    export.add_argument("--codec", type=_comma_list, default=None, help="codecs to export (default: all)")
    export.add_argument("--out", type=Path, default=Path("."), help="folder for <codec>.json (default: current folder)")

    train = sub.add_parser(
        "train",
        help="train a family of learned codecs (one model per lambda)",
        description="Train learned image codecs with the transform-coding recipe (R + lambda * 255^2 * MSE), one "
        "model per lambda; resumes after an interruption; writes a model family usable as a codec.",
    )
    train.add_argument(
        "--data", type=Path, required=True, help="image folder (train/, test/, val/ subfolders, or flat)"
    )
    train.add_argument("--out", type=Path, required=True, help="family folder to write (and resume from)")
    train.add_argument("--lambdas", type=_float_list, required=True, metavar="L1,L2", help="one model per lambda")
    train.add_argument("--arch", choices=("factorized", "hyperprior", "mean-scale"), default="hyperprior")
    train.add_argument("--N", type=_positive_int, default=64, help="hidden width of the transforms (default: 64)")
    train.add_argument("--M", type=_positive_int, default=96, help="latent channels (default: 96)")
    train.add_argument("--steps", type=_positive_int, default=20000, help="optimiser steps per model (default: 20000)")
    train.add_argument("--batch-size", type=_positive_int, default=8)
    train.add_argument("--crop", type=_positive_int, default=128, help="random crop size in pixels (default: 128)")
    train.add_argument("--lr", type=float, default=1e-4, help="learning rate (default: 1e-4)")
    train.add_argument("--lr-schedule", choices=("constant", "step", "cosine"), default="step",
                       help="step: x0.1 for the last 15%% of the steps (default); cosine: down to 1%%")  # fmt: skip
    train.add_argument("--aux-lr", type=float, default=1e-3)
    train.add_argument("--val-every", type=_positive_int, default=1000, help="validate and checkpoint every N steps")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    train.add_argument("--threads", type=int, default=0, help="torch CPU threads per model (default: torch's)")
    train.add_argument("-j", "--jobs", type=_positive_int, default=1, help="models trained at once, in processes")
    train.add_argument("--name", default=None, help="family (and codec) name (default: the --out folder's name)")
    train.add_argument("--weights-dtype", choices=("float32", "float16"), default="float32",
                       help="precision of the saved transform weights (float16 halves the files)")  # fmt: skip
    train.add_argument("--no-progress", action="store_true")

    verify = sub.add_parser(
        "verify",
        help="check that a codec decodes its bitstreams identically in a fresh process (and across devices)",
    )
    verify.add_argument("codec")
    verify.add_argument("--dataset", default="kodak", help="images to check with (default: kodak)")
    verify.add_argument("--data-dir", type=Path, default=None)
    verify.add_argument("--max-images", type=_positive_int, default=2)
    verify.add_argument("--quality", type=_float_list, default=None, help="knob values (default: the whole sweep)")
    _add_plugin_option(verify)

    codecs = sub.add_parser("codecs", help="list codecs, their availability, versions and default sweeps")
    codecs.add_argument("--json", action="store_true", help="machine-readable output")
    _add_plugin_option(codecs)

    datasets = sub.add_parser("datasets", help="list named datasets and whether they are present locally")
    datasets.add_argument("--data-dir", type=Path, default=None)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from bench.tasks import worker_context

    worker_context()  # the workers' fork server loads the codecs while this process loads the rest
    from bench.runner import RunConfig, RunSetupError, command_line, run

    config = RunConfig(
        dataset=args.dataset,
        codecs=args.codec,
        qualities=args.quality,
        out=args.out,
        name=args.name,
        data_dir=args.data_dir,
        offline=args.offline,
        device=args.device,
        plugins=tuple(args.plugin),
        repeat=args.repeat,
        jobs=args.jobs,
        max_images=args.max_images,
        save_reconstructions=args.save_reconstructions,
        save_bitstreams=args.save_bitstreams,
        command=command_line(),
    )
    try:
        outcome = run(config, progress=not args.no_progress)
    except RunSetupError as exc:
        return _setup_error("run", exc)
    if outcome.interrupted:
        return 130
    if not args.no_report and outcome.records:
        from bench.report import ReportConfig, make_report

        try:
            made = make_report(ReportConfig(runs=(outcome.out,), anchor=args.anchor))
            print(f"report: {made.out}/report.md (BD-rates against {made.anchor})")
        except Exception as exc:  # the measurements are safe in the store; say what failed
            print(f"bench run: the report could not be made ({type(exc).__name__}: {exc}); "
                  f"run `bench report {outcome.out}` to retry", file=sys.stderr)  # fmt: skip
            return EXIT_FAILURES
    return EXIT_OK if outcome.ok else EXIT_FAILURES


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import ReportConfig, ReportError, make_report

    config = ReportConfig(
        runs=tuple(args.runs),
        references=tuple(args.reference),
        out=args.out,
        anchor=args.anchor,
        method=args.method,
        width=args.width,
        max_bpp=args.max_bpp or None,
        per_image=args.per_image,
    )
    try:
        made = make_report(config)
    except ReportError as exc:
        return _setup_error("report", exc)
    print(f"report: {made.out}/report.md ({len(made.files)} files; BD-rates against {made.anchor})")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from bench.curves import CurveError, curves_from_run, to_compressai

    try:
        curves = curves_from_run(args.run)
    except CurveError as exc:
        return _setup_error("export", exc)
    wanted = set(args.codec) if args.codec else None
    unknown = (wanted or set()) - {c.codec for c in curves}
    if unknown:
        print(f"bench export: {args.run} has no {', '.join(sorted(unknown))}", file=sys.stderr)
        return EXIT_SETUP
    args.out.mkdir(parents=True, exist_ok=True)
    for curve in curves:
        if wanted is None or curve.codec in wanted:
            path = args.out / f"{curve.codec}.json"
            path.write_text(json.dumps(to_compressai(curve), indent=2) + "\n", encoding="utf-8")
            print(path)
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from bench.neural.train import TrainConfig, TrainError, command_line, train_family

    config = TrainConfig(
        data=args.data, out=args.out, lambdas=args.lambdas, arch=args.arch, N=args.N, M=args.M, steps=args.steps,
        batch_size=args.batch_size, crop=args.crop, lr=args.lr, lr_schedule=args.lr_schedule, aux_lr=args.aux_lr,
        val_every=args.val_every, seed=args.seed, device=args.device, threads=args.threads, jobs=args.jobs,
        name=args.name, weights_dtype=args.weights_dtype, command=command_line(), progress=not args.no_progress,
    )  # fmt: skip
    try:
        family = train_family(config)
    except TrainError as exc:
        return _setup_error("train", exc)
    for m in family["models"]:
        print(f"quality {m['quality']}: lambda {m['lambda']:g}, val {m['val_bpp']:.3f} bpp {m['val_psnr']:.2f} dB "
              f"(best at step {m['best_step']}, {m['train_seconds'] / 60:.1f} min on {m['device']})")  # fmt: skip
    print(
        f"family: {args.out}/family.json; use it with: bench run --plugin {args.out}/plugin.py --codec {family['name'].lower()}"
    )
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from bench.verify import VerifyError, verify_codec

    try:
        report = verify_codec(args.codec, dataset=args.dataset, data_dir=args.data_dir, max_images=args.max_images,
                              qualities=args.quality, plugins=tuple(args.plugin))  # fmt: skip
    except VerifyError as exc:
        return _setup_error("verify", exc)
    for line in report.lines:
        print(line)
    return EXIT_OK if report.ok else EXIT_FAILURES


def _codec_rows(plugins: list[str]) -> list[dict]:
    from bench.registry import discover

    rows = []
    registry = discover(plugins)
    for name, problem in registry.broken.items():
        rows.append({"name": name, "kind": "?", "available": False, "reason": problem, "origin": "entry point",
                     "in_default_run": False, "knob": None, "rate_grows": None, "sweep": [], "versions": {}})  # fmt: skip
    for entry in registry.entries():
        reason = entry.unavailable_reason()
        row = {
            "name": entry.name,
            "kind": entry.cls.kind,
            "available": reason is None,
            "reason": reason,
            "origin": entry.origin,
            "in_default_run": entry.cls.in_default_run,
            "knob": entry.cls.knob.name,
            "rate_grows": entry.cls.knob.rate_grows,
            "sweep": list(entry.cls.knob.sweep),
            "versions": {},
        }
        if reason is None:
            try:
                row["versions"] = dict(entry.create().versions())
            except Exception as exc:
                row["versions"] = {"error": f"{type(exc).__name__}: {exc}"}
        rows.append(row)
    return rows


def cmd_codecs(args: argparse.Namespace) -> int:
    from bench.registry import RegistryError
    from bench.store import format_quality

    try:
        rows = _codec_rows(args.plugin)
    except RegistryError as exc:
        return _setup_error("codecs", exc)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for row in rows:
        status = "available" if row["available"] else "NOT AVAILABLE"
        default = "" if row["in_default_run"] else ", not in the default run"
        print(f"{row['name']:<12} {status} ({row['kind']}, {row['origin']}{default})")
        if row["available"]:
            print(f"{'':<12} versions: " + ", ".join(f"{k} {v}" for k, v in row["versions"].items()))
        else:
            print(f"{'':<12} why: {row['reason']}")
        if row["knob"]:
            direction = "more bits as it grows" if row["rate_grows"] else "fewer bits as it grows"
            print(f"{'':<12} sweep: {row['knob']} = {', '.join(format_quality(q) for q in row['sweep'])} ({direction})")
    return EXIT_OK


def cmd_datasets(args: argparse.Namespace) -> int:
    from bench.datasets import data_root, known_datasets, load_manifest

    root = data_root(args.data_dir)
    print(f"data root: {root}")
    for name in known_datasets():
        manifest = load_manifest(name)
        present = sum((root / name / f.name).is_file() for f in manifest.files)
        print(
            f"{name:<10} {manifest.title}: {present}/{len(manifest.files)} files in {root / name} ({manifest.homepage})"
        )
    print("any folder of PNG/JPEG/TIFF images can be given as --dataset PATH")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "run": cmd_run,
        "report": cmd_report,
        "export": cmd_export,
        "train": cmd_train,
        "verify": cmd_verify,
        "codecs": cmd_codecs,
        "datasets": cmd_datasets,
    }[args.command]
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
