"""The learned codecs shipped with codec-bench: the ``mean-scale-small`` and ``factorized-small`` families.

``mean-scale-small`` (the default learned codec: a portable mean-scale hyperprior, whose files decode
identically on any device) and ``factorized-small`` (a small factorized-prior model: the cheapest to
run). Their weights and model cards live in ``weights/<family>/`` (package data of ``bench_codecs``);
the codec class is made by :func:`bench.neural.codec.make_family_codec`, where the shared base of
learned codecs (:class:`~bench.neural.codec.CompressAICodec`, padding, devices, bitstreams, GPU
statistics) lives.

``CompressAICodec``, ``NeuralFamilyCodec`` and ``make_family_codec`` are re-exported here as a thin
backwards-compatible alias of :mod:`bench.neural.codec`: plugins written against
``from bench_codecs.neural import make_family_codec`` keep working (new code imports them from
``bench.neural.codec``).
"""

from __future__ import annotations

from pathlib import Path

from bench.neural.codec import CompressAICodec, NeuralFamilyCodec, make_family_codec

__all__ = ["CompressAICodec", "NeuralFamilyCodec", "make_family_codec"]

WEIGHTS = Path(__file__).resolve().parent / "weights"

#: The default learned family: a portable mean-scale hyperprior, N=48, M=64 (model card in its folder).
MeanScaleSmall = make_family_codec(WEIGHTS / "mean-scale-small", name="mean-scale-small")
#: A small factorized-prior family (48/64 channels): the cheapest learned codec to run.
FactorizedSmall = make_family_codec(WEIGHTS / "factorized-small", name="factorized-small")
