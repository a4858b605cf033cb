"""The plugin API: what codecs, metrics and executors implement, and where they are found.

* :mod:`bench.api.codec`: the codec interface (``Codec``, ``Knob``, ``@register_codec``);
  :mod:`bench.api.codec_registry`: finding codecs (built-ins, ``codec_bench.codecs`` entry points,
  plugin files); :mod:`bench.api.external`: the base of codecs that are command-line programs.
* :mod:`bench.api.metric`: the metric interface (``Metric``, ``DatasetMetric``, ``DbForm``,
  ``@register_metric``); :mod:`bench.api.metric_registry`: finding metrics and ``compute``.
* :mod:`bench.api.executor`: the executor interface, the loop that feeds it and the executors' registry;
  :mod:`bench.api.task`: what an executor is asked (``Task``, ``ScoreTask``); :mod:`bench.api.records`:
  what it hands back (``Record``, ``Scores`` or ``Failure``), and the rule of means over images.
* :mod:`bench.api.plugins`: ``--plugin`` files and entry points, for all three registries.
* Helpers plugins and the rest of codec-bench share: :mod:`bench.api.files` (atomic writes, hashes,
  the recorded command line), :mod:`bench.api.processes` (child programs that die with their parent),
  :mod:`bench.api.options` (command-line options declared on configuration dataclasses).
* :mod:`bench.api.moved`: the module paths of the flat 0.1 layout, still importable.

Plugins import the codec and metric interfaces by their public names, :mod:`bench.codec` and
:mod:`bench.metric`.

Words, each with one meaning everywhere in codec-bench:

* a *task* (:class:`~bench.api.task.Task`) is one codec at one knob value on one image; *measuring* it
  is encoding the image, decoding the bytes alone, computing the metrics and timing both calls;
* a *record* (:class:`~bench.api.records.Record`) is what one measurement gives and the store keeps
  (sizes, rate, metric values, times); a *failure* (:class:`~bench.api.records.Failure`) says why a
  task gave none;
* a *score task* (:class:`~bench.api.task.ScoreTask`) asks for metrics of a record of a finished run;
  *scoring* it computes them from the run's saved reconstruction or bitstream (``bench score``) and
  gives *scores* (:class:`~bench.api.records.Scores`);
* a *run* is a run folder and everything ``bench run`` measured into it; an *invocation* is one
  command that wrote into it (``run.json`` lists them).
"""
