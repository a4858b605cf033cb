"""codec-bench: rate-distortion benchmarks of traditional and learned image codecs.

One folder per concern:

* :mod:`bench.codec`, :mod:`bench.metric`: the codec and metric interfaces, by their public names;
* :mod:`bench.api`: the plugin API: interfaces and registries of codecs, metrics and executors, the
  task and record types, plugin files, and the helpers they share (files, processes, options);
* :mod:`bench.data`: datasets, reading images, downloads;
* :mod:`bench.executors`: where tasks are measured: one measurement, the local worker processes, Ray;
* :mod:`bench.run`: ``bench run`` (configuration, run folder, staging, the loop, decoding checks,
  rate-matching rounds), ``bench score`` and ``bench verify``;
* :mod:`bench.store`: the run's SQLite store, its CSV exports and the provenance of results;
* :mod:`bench.metrics`: the built-in metrics, one module per family;
* :mod:`bench.analysis`: curves, BD-rate, bootstrap intervals, matched quality, rate matching's search;
* :mod:`bench.report`: tables, figures and ``bench report``;
* :mod:`bench.neural`: learned codecs (base, bitstream, architectures, portable models, families, training);
* :mod:`bench.cli`: the ``bench`` command, one module per subcommand.

The built-in codecs are the package :mod:`bench_codecs`, the dataset manifests :mod:`bench_datasets`.
"""

from bench.api import moved as _moved

__version__ = "0.2.0"

_moved.install()  # the module paths of the flat 0.1 layout (``bench.external``, ...) keep working
