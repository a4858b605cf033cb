"""The learned codec shipped with codec-bench: the ``factorized-small`` family.

Its weights and model card live in ``weights/factorized-small/`` (package data of ``bench_codecs``);
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

__all__ = ["CompressAICodec", "NeuralFamilyCodec", "make_family_codec", "SHIPPED_FAMILIES"]

WEIGHTS = Path(__file__).resolve().parent / "weights"
SHIPPED_FAMILIES = ("factorized-small",)

#: The family shipped with codec-bench: a small factorized-prior model (model card in its folder).
FactorizedSmall = make_family_codec(WEIGHTS / "factorized-small", name="factorized-small")
