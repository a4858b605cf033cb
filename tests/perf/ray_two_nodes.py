"""`bench run --executor ray` on a real two-node Ray cluster on this machine (`ray start --head` and a second
`ray start --address`, one CPU each) against the local executor with the same two CPUs (`-j 2`): the JPEG and
WebP default sweeps on Kodak (2 x 19 qualities x 24 images = 912 measurements).

Prints the wall time of each whole `bench run` command (interpreter start-up, connecting to the cluster and
the decoding check included; the cluster itself is started beforehand, as a real one would be), the
overhead of Ray, whether records.csv is the same (timing columns aside) and how many rows each node
measured. Then a third run kills the second node (SIGKILL of all its processes) once a quarter of the
measurements are in, and checks that the run still ends with every row exactly once and no failure.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import bench_with_env, data_dir, machine, ray_cluster

TIMING = {"encode_s", "decode_s"}
SWEEP = ("run", "--dataset", "kodak", "--codec", "jpeg,webp", "--no-report")


def table(folder: Path) -> list[tuple]:
    with open(folder / "records.csv", newline="") as fh:
        rows = [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(fh)]
    return sorted(tuple(r.items()) for r in rows)


def per_node(folder: Path) -> Counter:
    with sqlite3.connect(folder / "store.sqlite") as db:
        return Counter(json.loads(extra).get("node") for (extra,) in db.execute("SELECT extra FROM records"))


def count(folder: Path) -> int:
    try:
        with sqlite3.connect(folder / "store.sqlite") as db:
            return db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    except sqlite3.Error:
        return 0


def network_bytes() -> int:
    """Bytes received on every network interface of this machine (loopback included: the two nodes talk
    over it), from /proc/net/dev."""
    total = 0
    for line in Path("/proc/net/dev").read_text().splitlines()[2:]:
        total += int(line.split(":", 1)[1].split()[0])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs of each executor, alternated (best counts)")
    repeats = parser.parse_args().repeats
    rc = ray_cluster()
    with tempfile.TemporaryDirectory() as tmp, rc.LocalCluster(head_cpus=1) as cluster:
        tmp = Path(tmp)
        second = cluster.add_node(cpus=1)
        rc.wait_for_nodes(cluster.address, 2)
        ray_args = ("--executor", "ray", "--ray-address", cluster.address)
        local_times, ray_times = [], []
        for attempt in range(repeats):  # alternated, so that a busy moment does not favour one of them
            local_times.append(bench_with_env(*SWEEP, "-j", "2", "--out", str(tmp / f"local{attempt}"), env=rc.ENV)[0])
            moved = network_bytes()
            ray_times.append(bench_with_env(*SWEEP, *ray_args, "--out", str(tmp / f"ray{attempt}"), env=rc.ENV)[0])
            moved = network_bytes() - moved
        (tmp / "local0").rename(tmp / "local")
        (tmp / "ray0").rename(tmp / "ray")
        local_s, ray_s = min(local_times), min(ray_times)
        reference = table(tmp / "local")
        same = reference == table(tmp / "ray")
        nodes = per_node(tmp / "ray")

        out = tmp / "killed"
        cmd = [sys.executable, "-m", "bench", *SWEEP, *ray_args, "--out", str(out), "--no-progress"]
        start = time.perf_counter()
        driver = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "BENCH_DATA": str(data_dir()), **rc.ENV})  # fmt: skip
        while count(out) < 912 // 4:
            time.sleep(0.05)
        cluster.kill(second)
        killed_at = count(out)
        _, stderr = driver.communicate()
        killed_s = time.perf_counter() - start
        killed_rows = table(out)
        killed_same = killed_rows == reference
        with open(out / "failures.csv", newline="") as fh:
            failures = list(csv.DictReader(fh))
        measured = json.loads((out / "run.json").read_text())["invocations"][-1]["measured"]

    print(f"machine: {machine()}")
    print("work: jpeg + webp default sweeps on Kodak (912 measurements); cluster: 2 nodes x 1 CPU on this machine")
    print(f"  local executor -j 2:       {local_s:6.1f} s  (best of {', '.join(f'{t:.1f}' for t in local_times)})")
    print(
        f"  ray executor, 2 nodes:     {ray_s:6.1f} s  (best of {', '.join(f'{t:.1f}' for t in ray_times)}; "
        f"overhead {100 * (ray_s / local_s - 1):+.1f}%)"
    )
    print(f"  records.csv identical (timing columns aside): {same}; rows per node: {dict(nodes)}")
    kodak = sum(3 * 768 * 512 for _ in range(24))
    print(
        f"  network traffic during the Ray run: {moved / 1e6:.1f} MB (Kodak's pixels: {kodak / 1e6:.1f} MB; "
        f"sent once per task they would be {912 * kodak / 24 / 1e6:.0f} MB)"
    )
    print(f"  second node killed after {killed_at} rows: {killed_s:.1f} s in all, exit {driver.returncode}, "
          f"{len(killed_rows)} rows ({len(set(killed_rows))} distinct, identical to local: {killed_same}), "
          f"{len(failures)} failures, {measured} results handed to the store")  # fmt: skip
    if driver.returncode != 0:
        print(stderr)


if __name__ == "__main__":
    main()
