"""How much quality a latent of M channels at stride 16 leaves room for: a design check for learned families.

A hyperprior model with M latent channels at 1/16 of the resolution describes each 16x16 RGB block
(768 values) with M numbers. The best *linear* code of that size, unquantised, is the projection on
the block covariance's M leading eigenvectors (PCA, fitted on the images themselves). This script
prints its PSNR-RGB (mean over the images, reconstruction rounded to 8 bits) for several M: a
reference point, not a bound (a nonlinear synthesis can do better, and quantisation does worse), that
shows where a family of a given M runs out of quality as its lambda grows.

    .venv/bin/python tests/perf/latent_ceiling.py            # Kodak from $BENCH_DATA
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from _common import data_dir, machine

BLOCK = 16


def blocks(image: np.ndarray) -> np.ndarray:
    """The image's 16x16 RGB blocks as rows of 768 values (H and W multiples of 16)."""
    h, w, _ = image.shape
    return (
        image.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, 3).transpose(0, 2, 1, 3, 4).reshape(-1, BLOCK * BLOCK * 3)
    )


def unblocks(rows: np.ndarray, h: int, w: int) -> np.ndarray:
    return rows.reshape(h // BLOCK, w // BLOCK, BLOCK, BLOCK, 3).transpose(0, 2, 1, 3, 4).reshape(h, w, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=None, help="folder of PNG images (default: Kodak)")
    parser.add_argument("--channels", default="48,64,96,128,160,192,320")
    args = parser.parse_args()
    folder = data_dir() / "kodak" if args.images is None else Path(args.images)
    files = sorted(Path(folder).glob("*.png"))
    images = [np.asarray(Image.open(f).convert("RGB"), dtype=np.float64) for f in files]
    rows = [blocks(image[: image.shape[0] // BLOCK * BLOCK, : image.shape[1] // BLOCK * BLOCK]) for image in images]
    every = np.concatenate(rows)
    mean = every.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov((every - mean).T))
    vectors = vectors[:, ::-1]  # leading eigenvectors first
    print(f"{len(files)} images from {folder}; {machine()}")
    print("| M | values per pixel | PSNR-RGB of the best linear code (dB) |")
    print("| --- | --- | --- |")
    for m in (int(c) for c in args.channels.split(",")):
        basis = vectors[:, :m]
        psnrs = []
        for image, block_rows in zip(images, rows, strict=True):
            h, w = image.shape[0] // BLOCK * BLOCK, image.shape[1] // BLOCK * BLOCK
            coded = (block_rows - mean) @ basis @ basis.T + mean
            recon = np.clip(np.round(unblocks(coded, h, w)), 0, 255)
            mse = np.mean((recon - image[:h, :w]) ** 2)
            psnrs.append(10 * np.log10(255**2 / mse))
        print(f"| {m} | {m / BLOCK**2:.2f} | {np.mean(psnrs):.2f} |")


if __name__ == "__main__":
    main()
