"""Driver capacity of `bench run --executor ray`: how many records per second the driver takes in, with a
codec that does nothing (its bitstream is the image's shape, its decoder returns zeros; PSNR-RGB only, on
16 x 16 images), on the two-node cluster of `ray_two_nodes.py` (one CPU per node).

The driver runs in this process, and its CPU time (every thread: Ray's core worker too) and wall time are
measured while the runner feeds the executor and stores what comes back (``bench.run.runner.run_tasks``:
set-up, the decoding check and the export are left out). Two runs of different sizes give the marginal
cost of one record (starting the workers cancels out): driver CPU seconds per record, whose inverse is
what one driver core can take in, and wall seconds per record, which on this 2-core machine also pays for
the two workers and Ray's daemons. The store's share (one SQLite transaction per record, as in every run)
is measured alone, and with --profile the driver's hot spots are printed (cProfile of the larger run).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _common import machine, ray_cluster

PLUGIN = '''
import numpy as np
from bench.api.codec import Codec, Knob, register_codec


@register_codec
class Nothing(Codec):
    """Does nothing: the bitstream is the image's shape, the decoded image is black."""
    name = "nothing"
    knob = Knob("quality", 1, 1000, (1,))
    def encode(self, image, quality): return np.asarray(image.shape, dtype=np.int32).tobytes()
    def decode(self, data): return np.zeros(tuple(np.frombuffer(data, dtype=np.int32)), dtype=np.uint8)
    def settings(self): return {}
    def versions(self): return {"nothing": "1"}
'''
IMAGES = 40


def run_once(folder: Path, plugin: Path, out: Path, address: str, qualities: int, executor: str):
    """(records, driver CPU seconds, wall seconds) of the measuring loop of one run."""
    import bench.run.runner
    from bench.run.runner import RunConfig, run

    spans = []
    real = bench.run.runner.run_tasks

    def timed(*args, **kwargs):
        cpu, wall, count = time.process_time(), time.perf_counter(), 0
        for result in real(*args, **kwargs):
            count += 1
            yield result  # the runner stores it before asking for the next one
        spans.append((count, time.process_time() - cpu, time.perf_counter() - wall))

    config = RunConfig(dataset=str(folder), codecs=("nothing",), qualities=tuple(range(1, qualities + 1)),
                       plugins=(str(plugin),), metrics=("psnr_rgb",), out=out, jobs=2, executor=executor,
                       ray_address=address if executor == "ray" else None)  # fmt: skip
    bench.run.runner.run_tasks = timed
    try:
        report = run(config, progress=False, echo=lambda text: None)
    finally:
        bench.run.runner.run_tasks = real
    assert report.ok and spans[0][0] == len(report.records), report.failures[:3]
    return spans[0]


def store_cost(records: int = 5000) -> float:
    """Seconds of one ``Store.add_record`` (one SQLite transaction) for records like these."""
    from bench.api.records import Record
    from bench.store.sqlite import Store

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "store.sqlite") as store:
        made = [Record("nothing", float(q), f"{i}.png", 16, 16, 12, 0.375, {"psnr_rgb": 10.0}, 1e-6, 1e-6,
                       {"metrics_s": 1e-5, "node": "0123456789ab"}) for q in range(records // 50) for i in range(50)]  # fmt: skip
        start = time.perf_counter()
        for record in made:
            store.add_record(record)
        return (time.perf_counter() - start) / len(made)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=25, help="qualities of the smaller run (x 40 images)")
    parser.add_argument("--large", type=int, default=150, help="qualities of the larger run (x 40 images)")
    parser.add_argument("--profile", action="store_true", help="print the driver's hot spots")
    args = parser.parse_args()
    rc = ray_cluster()
    os.environ.update(rc.ENV)  # this process is the driver
    results = {}
    with tempfile.TemporaryDirectory() as tmp, rc.LocalCluster(head_cpus=1) as cluster:
        tmp = Path(tmp)
        cluster.add_node(cpus=1)
        rc.wait_for_nodes(cluster.address, 2)
        folder = tmp / "tiny"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(IMAGES):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
        plugin = tmp / "nothing.py"
        plugin.write_text(PLUGIN)
        for executor in ("ray", "local"):
            for label, qualities in (("small", args.small), ("large", args.large)):
                profiler = cProfile.Profile() if args.profile and executor == "ray" and label == "large" else None
                if profiler:
                    profiler.enable()
                results[executor, label] = run_once(folder, plugin, tmp / f"{executor}-{label}", cluster.address,
                                                    qualities, executor)  # fmt: skip
                if profiler:
                    profiler.disable()
                    stats = pstats.Stats(profiler)
    print(f"machine: {machine()}")
    print(
        f"work: a codec that does nothing, 16 x 16 images, PSNR-RGB; {IMAGES} images x {args.small} and "
        f"x {args.large} qualities; cluster: 2 nodes x 1 CPU on this machine"
    )
    for executor in ("ray", "local"):
        (n1, c1, w1), (n2, c2, w2) = results[executor, "small"], results[executor, "large"]
        cpu_per = (c2 - c1) / (n2 - n1)
        wall_per = (w2 - w1) / (n2 - n1)
        print(
            f"  {executor:>5}: {n2} records in {w2:.2f} s of measuring ({n2 / w2:.0f}/s, driver CPU {c2:.2f} s); "
            f"marginal: {1e6 * wall_per:.0f} us wall ({1 / wall_per:.0f} records/s), "
            f"{1e6 * cpu_per:.0f} us driver CPU per record ({1 / cpu_per:.0f} records/s per driver core)"
        )
    print(f"  store.add_record alone: {1e6 * store_cost():.0f} us per record")
    if args.profile:
        print("driver hot spots (ray, larger run, by own time):")
        stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
