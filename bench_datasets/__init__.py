"""Dataset manifests (the ``bench_datasets`` package): one JSON file per named dataset.

Each manifest lists the files of the dataset with their download URL and sha256. The images
themselves are never stored here: ``bench`` downloads them into the data root on first use
(see :mod:`bench.data.datasets`).
"""
