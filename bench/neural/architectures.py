"""The learned-codec architectures ``bench train`` builds, all from compressai's models.

| name | compressai class | paper | stride |
| --- | --- | --- | --- |
| ``factorized`` | ``FactorizedPrior`` | Ballé et al. 2017 (bmshj2018-factorized) | 16 |
| ``hyperprior`` | ``ScaleHyperprior`` | Ballé et al. 2018 (bmshj2018-hyperprior) | 64 |
| ``mean-scale`` | ``MeanScaleHyperprior`` | Minnen et al. 2018 (mbt2018-mean) | 64 |

``N`` is the width of the transforms' hidden layers and ``M`` the number of latent channels; the
papers use N=128, M=192 at low rates. The stride is the factor the input's height and width must be
divisible by (the encoder pads to it).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Architecture", "ARCHITECTURES", "build"]


@dataclass(frozen=True)
class Architecture:
    name: str
    compressai_class: str
    stride: int
    paper: str


ARCHITECTURES = {
    "factorized": Architecture("factorized", "FactorizedPrior", 16, "Balle et al., ICLR 2017 / bmshj2018-factorized"),
    "hyperprior": Architecture("hyperprior", "ScaleHyperprior", 64, "Balle et al., ICLR 2018 (bmshj2018-hyperprior)"),
    "mean-scale": Architecture("mean-scale", "MeanScaleHyperprior", 64, "Minnen et al., NeurIPS 2018 (mbt2018-mean)"),
}


def build(arch: str, N: int, M: int):
    """A fresh compressai model of architecture ``arch`` with widths N and M."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture '{arch}'; choose one of {', '.join(ARCHITECTURES)}")
    from bench.neural import import_compressai

    return getattr(import_compressai().models, ARCHITECTURES[arch].compressai_class)(N=N, M=M)
