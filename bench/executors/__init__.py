"""Executors: where tasks run (the interface is :mod:`bench.api.executor`).

* :mod:`bench.executors.measure`: running one task in the process that runs it: a measurement (encode,
  decode from the bytes, metrics, timings) or a scoring (``bench score``: metrics of a saved decoded image);
* :mod:`bench.executors.local`: the ``local`` executor, worker processes on this machine;
* :mod:`bench.executors.ray_driver`, :mod:`bench.executors.ray_node`: the ``ray`` executor, its driver
  and what runs on each node of the cluster.
"""
