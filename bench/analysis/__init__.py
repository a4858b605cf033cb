"""Analysis: the numbers of measured and published results (DataFrames, dataclasses); :mod:`bench.report` renders them.

Rate-distortion curves (:mod:`bench.analysis.curves`), BD-rate (:mod:`bench.analysis.bdrate`, vectorised in
:mod:`bench.analysis.bdvector`), bootstrap intervals (:mod:`bench.analysis.bootstrap`), BD tables
(:mod:`bench.analysis.bd_table`), matched-quality size ratios (:mod:`bench.analysis.matched`), dataset metric
values (:mod:`bench.analysis.dataset_values`), rate matching's search and its results
(:mod:`bench.analysis.rate_match`, :mod:`bench.analysis.target_rates`) and the published anchor curves
(:mod:`bench.analysis.anchors`).
"""
