"""``bench train``: train a family of learned codecs, one model per lambda (:mod:`bench.neural.train`)."""

from __future__ import annotations

import argparse

from bench.api.options import add_options, config_from_args
from bench.cli._common import EXIT_OK, setup_error


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "train",
        help="train a family of learned codecs (one model per lambda)",
        description="Train learned image codecs with the transform-coding recipe (R + lambda * 255^2 * MSE), one "
        "model per lambda; resumes after an interruption; writes a model family usable as a codec.",
        arguments=add_arguments,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.neural.train import TrainConfig

    add_options(parser, TrainConfig, exclude=("weights_dtype", "progress"))
    add_options(parser, TrainConfig, only=("weights_dtype", "progress"))  # after --name, as they always were


def handle(args: argparse.Namespace) -> int:
    from bench.api.files import command_line
    from bench.neural.train import TrainConfig, TrainError, train_family

    config = config_from_args(TrainConfig, args, command=command_line())
    try:
        family = train_family(config)
    except TrainError as exc:
        return setup_error("train", exc)
    for m in family["models"]:
        print(f"quality {m['quality']}: lambda {m['lambda']:g}, val {m['val_bpp']:.3f} bpp {m['val_psnr']:.2f} dB "
              f"(best at step {m['best_step']}, {m['train_seconds'] / 60:.1f} min on {m['device']})")  # fmt: skip
    print(
        f"family: {config.out}/family.json; use it with: bench run --plugin {config.out}/plugin.py --codec {family['name'].lower()}"
    )
    return EXIT_OK
