"""Executors: where tasks are measured (the interface is :mod:`bench.api.executor`).

* :mod:`bench.executors.measure`: measuring one task in the process that runs it (encode, decode from
  the bytes, metrics, timings);
* :mod:`bench.executors.local`: the ``local`` executor, worker processes on this machine;
* :mod:`bench.executors.ray_driver`, :mod:`bench.executors.ray_node`: the ``ray`` executor, its driver
  and what runs on each node of the cluster.
"""
