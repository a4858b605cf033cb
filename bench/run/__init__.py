"""Runs: ``bench run`` (:mod:`bench.run.runner`), the fresh-process decoding check
(:mod:`bench.run.decode_check`), ``bench score`` (:mod:`bench.run.score`) and ``bench verify``
(:mod:`bench.run.verify`)."""
