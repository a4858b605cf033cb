"""Runs: ``bench run``, ``bench score`` (:mod:`bench.run.score`) and ``bench verify`` (:mod:`bench.run.verify`).

``bench run`` is :mod:`bench.run.runner` (the session: plan, feed an executor, store, check, export),
with :mod:`bench.run.config` (``RunConfig``), :mod:`bench.run.selection` (codecs, knob values,
metrics), :mod:`bench.run.folder` (the run folder's lock, store and ``run.json``),
:mod:`bench.run.staging` (images decoded once for the workers), :mod:`bench.run.rounds` (rate
matching's rounds), :mod:`bench.run.decode_check` (decoding again in a fresh process) and
:mod:`bench.run.printout` (the summary it prints).
"""
