"""The learned-codec architectures ``bench train`` builds and model families name, from compressai's models.

| name (in ``family.json``) | class | paper | stride |
| --- | --- | --- | --- |
| ``factorized`` | compressai ``FactorizedPrior`` | Ballé et al. 2017 (bmshj2018-factorized) | 16 |
| ``portable-hyperprior`` | ``PortableScaleHyperprior`` (:mod:`bench.neural.portable`) | Ballé et al. 2018, integer ``h_s`` (Ballé et al. 2019) | 64 |
| ``portable-mean-scale`` | ``PortableMeanScaleHyperprior`` (:mod:`bench.neural.portable`) | Minnen et al. 2018, integer ``h_s`` | 64 |
| ``hyperprior-float`` | compressai ``ScaleHyperprior`` | Ballé et al. 2018 (bmshj2018-hyperprior) | 64 |
| ``mean-scale-float`` | compressai ``MeanScaleHyperprior`` | Minnen et al. 2018 (mbt2018-mean) | 64 |

The portable models compute their entropy model's tables with an integer hyper-synthesis transform,
bit-identically on any device (:mod:`bench.neural.portable`); the float ones are compressai's models as
they are, whose bitstreams can fail to decode on another device or thread count.

``bench train --arch hyperprior`` and ``--arch mean-scale`` (:data:`TRAIN_ALIASES`) train the portable
models, recorded in ``family.json`` as ``portable-hyperprior`` / ``portable-mean-scale``. In a
``family.json``, ``hyperprior`` and ``mean-scale`` name what ``bench train`` wrote before the portable
models existed, the float compressai models, and still load as those (the same as ``hyperprior-float``
and ``mean-scale-float``).

``N`` is the width of the transforms' hidden layers and ``M`` the number of latent channels; the
papers use N=128, M=192 at low rates. The stride is the factor the input's height and width must be
divisible by (the encoder pads to it).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Architecture", "ARCHITECTURES", "TRAIN_ALIASES", "TRAIN_CHOICES", "build", "train_architecture"]


@dataclass(frozen=True)
class Architecture:
    name: str
    compressai_class: str
    stride: int
    paper: str
    #: the module holding ``compressai_class`` (compressai's models, or codec-bench's portable ones)
    module: str = "compressai.models"

    @property
    def portable(self) -> bool:
        """Whether the entropy model's tables are computed bit-identically on every device."""
        return self.module == "bench.neural.portable" or self.name == "factorized"


_HYPERPRIOR = "Balle et al., ICLR 2018 (bmshj2018-hyperprior)"
_MEAN_SCALE = "Minnen et al., NeurIPS 2018 (mbt2018-mean)"
_INTEGER = "; integer hyper-synthesis (Balle, Johnston, Minnen, ICLR 2019)"

ARCHITECTURES = {
    "factorized": Architecture("factorized", "FactorizedPrior", 16, "Balle et al., ICLR 2017 / bmshj2018-factorized"),
    "portable-hyperprior": Architecture("portable-hyperprior", "PortableScaleHyperprior", 64,
                                        _HYPERPRIOR + _INTEGER, "bench.neural.portable"),
    "portable-mean-scale": Architecture("portable-mean-scale", "PortableMeanScaleHyperprior", 64,
                                        _MEAN_SCALE + _INTEGER, "bench.neural.portable"),
    "hyperprior-float": Architecture("hyperprior-float", "ScaleHyperprior", 64, _HYPERPRIOR),
    "mean-scale-float": Architecture("mean-scale-float", "MeanScaleHyperprior", 64, _MEAN_SCALE),
    # what bench train wrote into family.json before the portable models: the float models
    "hyperprior": Architecture("hyperprior", "ScaleHyperprior", 64, _HYPERPRIOR),
    "mean-scale": Architecture("mean-scale", "MeanScaleHyperprior", 64, _MEAN_SCALE),
}  # fmt: skip

#: ``bench train --arch`` names that train another architecture than the one of that name in a family.json
TRAIN_ALIASES = {"hyperprior": "portable-hyperprior", "mean-scale": "portable-mean-scale"}
#: What ``bench train --arch`` accepts.
TRAIN_CHOICES = ("factorized", "hyperprior", "mean-scale", "portable-hyperprior", "portable-mean-scale",
                 "hyperprior-float", "mean-scale-float")  # fmt: skip


def train_architecture(arch: str) -> str:
    """The architecture ``bench train --arch arch`` trains (and records in family.json)."""
    if arch not in TRAIN_CHOICES:
        raise ValueError(f"unknown architecture '{arch}'; choose one of {', '.join(TRAIN_CHOICES)}")
    return TRAIN_ALIASES.get(arch, arch)


def build(arch: str, N: int, M: int):
    """A fresh model of architecture ``arch`` (a name in a family.json) with widths N and M."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture '{arch}'; choose one of {', '.join(ARCHITECTURES)}")
    import importlib

    from bench.neural import import_compressai

    spec = ARCHITECTURES[arch]
    module = import_compressai().models if spec.module == "compressai.models" else importlib.import_module(spec.module)
    return getattr(module, spec.compressai_class)(N=N, M=M)
