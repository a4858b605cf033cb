"""`bench run --executor ray` (bench/executors/ray_driver.py): the same measurements as the local executor,
on the nodes of a real Ray cluster started on this machine (conftest's ``cluster``, tests/ray_cluster.py: a
head and a second node, one CPU each, the second declaring a GPU to Ray, which it does not need to have:
Ray schedules by what nodes declare; one cluster for the whole session), with
the local executor's guarantees: a node killed in the middle of a run or a killed driver loses and
duplicates nothing, a task's failures and timeouts are recorded as locally, nodes with other versions
are refused, plugins and trained families reach the workers by themselves. `bench score --executor ray`
gives the local executor's values, from files the nodes get from the driver."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO, TIMING, data_root, read_csv, require
from ray_cluster import ENV, free_port, wait_for_nodes

PLUGIN = '''
import ctypes, io, os, time
import numpy as np
from PIL import Image
from bench.api.codec import Codec, Knob, register_codec


class Base(Codec):
    knob = Knob("quality", 1, 100, (40, 80))
    def encode(self, image, quality):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", quality=int(quality))
        return buf.getvalue()
    def decode(self, data): return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    def settings(self): return {}
    def versions(self): return {"test": "1"}
    def analyze(self, image, quality): return {"plugin_file": __file__}


@register_codec
class OnDevice(Base):
    """Takes --device as a learned codec does (and runs JPEG on the CPU all the same)."""
    name = "ondevice"
    uses_device = True
    def __init__(self, device="cpu"):
        self.device = device
    def analyze(self, image, quality):
        return {**super().analyze(image, quality), "device": self.device, "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}


@register_codec
class Slow(Base):
    """JPEG after 0.25 s of sleep."""
    name = "slow"
    def encode(self, image, quality):
        time.sleep(0.25)
        return super().encode(image, quality)


@register_codec
class Faulty(Base):
    """Hangs in native code on 200-row images, crashes its process on 190-row images."""
    name = "faulty"
    def encode(self, image, quality):
        if image.shape[0] == 200:
            ctypes.CDLL(None).sleep(10000)
        if image.shape[0] == 190:
            os._exit(9)
        return super().encode(image, quality)
'''


def bench(*args: str, timeout: float = 180, prelude: str = "") -> subprocess.CompletedProcess:
    """``bench`` in a fresh process, as a Ray driver of the test cluster (``prelude``: Python run first)."""
    code = f"{prelude}\nimport sys\nfrom bench.cli import main\nsys.exit(main({list(args)!r}))"
    env = {**os.environ, **ENV, "BENCH_DATA": str(data_root())}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout)


#: A dataset metric (features per image, aggregated per codec and quality): the mean colour's shift.
COLOUR_SHIFT = """
import numpy as np

from bench.api.metric import DatasetMetric, register_metric


@register_metric
class ColourShift(DatasetMetric):
    name = "colour_shift"
    label = "Colour shift"
    axis_label = "mean colour shift"
    features = "mean_colour"
    higher_is_better = False

    def extract(self, image):
        return image.reshape(-1, 3).astype(np.float64).mean(0, keepdims=True).astype(np.float32)

    def aggregate(self, ref, dist):
        return float(np.linalg.norm(ref.astype(np.float64).mean(0) - dist.astype(np.float64).mean(0)))
"""


#: The driver (a ``bench`` prelude) moves each file of a score task away once it has read it: a node
#: that read the driver's files instead of what the driver sent would find none.
FILES_ONLY_ON_THE_DRIVER = (
    "import os\n"
    "import bench.executors.ray_driver as driver\n"
    "submit = driver.RayExecutor.submit\n"
    "def submit_then_hide(self, task):\n"
    "    submit(self, task)\n"
    "    for path in (task.reference, task.reconstruction, task.bitstream):\n"
    "        if path and os.path.exists(path):\n"
    "            os.rename(path, path + '.hidden')\n"
    "driver.RayExecutor.submit = submit_then_hide\n"
)


def store_rows(out: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(out / "store.sqlite") as db:
        return db.execute(sql).fetchall()


def nodes_of_records(out: Path) -> list[str]:
    return [json.loads(extra)["node"] for (extra,) in store_rows(out, "SELECT extra FROM records")]


def rows_so_far(out: Path, sql: str) -> list[tuple]:
    """``store_rows`` of a run still starting: nothing while its store or tables do not exist yet
    (SQLite creates the file before the driver creates the tables)."""
    if not (out / "store.sqlite").exists():
        return []
    try:
        return store_rows(out, sql)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


@pytest.fixture
def plugin(tmp_path) -> str:
    path = tmp_path / "plugins" / "faults.py"
    path.parent.mkdir()
    path.write_text(textwrap.dedent(PLUGIN))
    return str(path)


def test_two_nodes_measure_exactly_what_the_local_executor_measures(cluster, tmp_path, kodak_dir):
    common = ("run", "--dataset", "kodak", "--max-images", "6", "--codec", "jpeg,webp", "--quality", "30,70",
              "--no-report", "--no-progress")  # fmt: skip
    local = bench(*common, "-j", "2", "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    on_ray = bench(*common, "--executor", "ray", "--ray-address", cluster.address, "--out", str(tmp_path / "ray"))
    assert on_ray.returncode == 0, on_ray.stderr

    def without_timings(folder: Path) -> list[dict]:
        return sorted(({k: v for k, v in r.items() if k not in TIMING} for r in read_csv(folder / "records.csv")),
                      key=lambda r: (r["codec"], r["quality"], r["image"]))  # fmt: skip

    assert len(without_timings(tmp_path / "ray")) == 24
    assert without_timings(tmp_path / "ray") == without_timings(tmp_path / "local")
    assert read_csv(tmp_path / "ray" / "failures.csv") == []
    doc = json.loads((tmp_path / "ray" / "run.json").read_text())
    assert doc["config"]["executor"] == "ray" and len(doc["nodes"]) == 2  # both nodes measured ...
    assert set(nodes_of_records(tmp_path / "ray")) == set(doc["nodes"])  # ... and each row names its node
    for node in doc["nodes"].values():
        assert node["host"] and node["cpu"] and node["resources"]["CPU"] == 1 and node["gpus"] == []
        assert node["packages"] == doc["environment"]["packages"] | {"ray": node["packages"]["ray"]}
        assert node["libraries"] == doc["environment"]["libraries"]


def test_bench_score_on_two_nodes_gives_the_values_of_the_local_executor(cluster, tmp_path, small_dataset):
    plugin = tmp_path / "colour_shift.py"
    plugin.write_text(COLOUR_SHIFT)
    made = tmp_path / "made"
    result = bench("run", "--dataset", str(small_dataset), "--codec", "jpeg,webp", "--quality", "30,70", "--metrics",
                   "psnr_rgb", "--save-reconstructions", "--save-bitstreams", "-j", "2", "--out", str(made),
                   "--no-report", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    shutil.rmtree(made / "reconstructions" / "webp")  # webp's records: decoded from their bitstreams
    common = ("--metrics", "psnr_y,colour_shift", "--plugin", str(plugin), "--no-report", "--no-progress")
    local = bench("score", str(shutil.copytree(made, tmp_path / "local")), *common, "-j", "2")
    assert local.returncode == 0, local.stderr
    on_ray = bench("score", str(shutil.copytree(made, tmp_path / "ray")), *common, "--executor", "ray", "--ray-address",
                   cluster.address, prelude=FILES_ONLY_ON_THE_DRIVER)  # fmt: skip
    assert on_ray.returncode == 0, on_ray.stderr
    assert "scored 16 records" in on_ray.stdout and "(8 from saved reconstructions, 8 by decoding" in on_ray.stdout
    assert len(list(small_dataset.glob("*.hidden"))) == 4 and not list((tmp_path / "ray").rglob("*.png"))

    def without_timings(folder: Path, name: str) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in read_csv(folder / name)]

    for name in ("records.csv", "summary.csv"):  # per-image values; the dataset metric's, from the features
        assert without_timings(tmp_path / "ray", name) == without_timings(tmp_path / "local", name)
    assert "colour_shift" in read_csv(tmp_path / "ray" / "summary.csv")[0]
    invocation = json.loads((tmp_path / "ray" / "run.json").read_text())["invocations"][-1]
    assert (invocation["kind"], invocation["executor"], invocation["scored"]) == ("score", "ray", 16)
    assert invocation["nodes"] and json.loads((tmp_path / "local" / "run.json").read_text())["invocations"][-1][
        "executor"] == "local"  # fmt: skip


def test_codecs_on_the_gpu_ask_ray_for_one_each(cluster, tmp_path, small_dataset, plugin):
    out = tmp_path / "r"
    result = bench("run", "--dataset", str(small_dataset), "--plugin", plugin, "--codec", "ondevice,jpeg", "--quality",
                   "40,60", "--device", "cuda", "--executor", "ray", "--ray-address", cluster.address, "--out", str(out),
                   "--no-report", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    nodes = json.loads((out / "run.json").read_text())["nodes"]
    (gpu_node,) = [key for key, node in nodes.items() if node["resources"]["GPU"] == 1]
    placed = {}
    for codec, extra in store_rows(out, "SELECT codec, extra FROM records"):
        placed.setdefault(codec, set()).add(json.loads(extra)["node"])
    # the GPU node's one CPU goes to its GPU actor; the CPU codec measures on the other node
    assert placed == {"ondevice": {gpu_node}, "jpeg": set(nodes) - {gpu_node}}
    extras = [json.loads(extra) for (extra,) in store_rows(out, "SELECT extra FROM records WHERE codec='ondevice'")]
    assert {(e["device"], e["gpus"]) for e in extras} == {("cuda", "0")}  # Ray gave its actor the GPU


def test_a_node_killed_mid_run_loses_and_duplicates_nothing(cluster, tmp_path, small_dataset, plugin):
    third = cluster.add_node(cpus=1)
    wait_for_nodes(cluster.address, 3)
    out = tmp_path / "r"
    args = ["run", "--dataset", str(small_dataset), "--plugin", plugin, "--codec", "slow", "--quality",
            "10,20,30,40,50,60", "--executor", "ray", "--ray-address", cluster.address, "--out", str(out),
            "--no-report", "--no-progress"]  # fmt: skip
    code = f"import sys\nfrom bench.cli import main\nsys.exit(main({args!r}))"
    driver = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, **ENV, "BENCH_DATA": str(data_root())})  # fmt: skip
    deadline = time.monotonic() + 90
    while len({json.loads(extra)["node"] for (extra,) in rows_so_far(out, "SELECT extra FROM records")}) < 3:
        assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()
        time.sleep(0.1)
    cluster.kill(third)
    stdout, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 0, stderr
    records = read_csv(out / "records.csv")
    assert len(records) == 24 and len({(r["codec"], r["quality"], r["image"]) for r in records}) == 24
    assert read_csv(out / "failures.csv") == []
    (invocation,) = json.loads((out / "run.json").read_text())["invocations"]
    assert invocation["measured"] == 24  # every result was handed to the store once: none measured twice
    assert len(json.loads((out / "run.json").read_text())["nodes"]) == 3


def test_a_killed_driver_resumes_with_only_what_is_missing(cluster, tmp_path, small_dataset, plugin):
    out = tmp_path / "r"
    args = ["run", "--dataset", str(small_dataset), "--plugin", plugin, "--codec", "slow", "--quality", "10,20,30",
            "--executor", "ray", "--ray-address", cluster.address, "--out", str(out), "--no-report", "--no-progress"]  # fmt: skip
    code = f"import sys\nfrom bench.cli import main\nsys.exit(main({args!r}))"
    driver = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, **ENV, "BENCH_DATA": str(data_root())})  # fmt: skip
    deadline = time.monotonic() + 90
    while len(rows_so_far(out, "SELECT 1 FROM records")) < 3:
        assert driver.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    driver.kill()
    driver.wait(30)
    first = store_rows(out, "SELECT COUNT(*) FROM records")[0][0]
    assert first < 12
    again = bench(*args)
    assert again.returncode == 0, again.stderr
    records = read_csv(out / "records.csv")
    assert len(records) == 12 and len({(r["quality"], r["image"]) for r in records}) == 12
    last = json.loads((out / "run.json").read_text())["invocations"][-1]
    assert last["measured"] == 12 - first  # only what was missing


def test_failures_timeouts_and_plugins_on_the_workers(cluster, tmp_path, small_dataset, plugin):
    from PIL import Image

    for name, height in (("hangs.png", 200), ("crashes.png", 190)):
        Image.new("RGB", (256, height), (90, 120, 150)).save(small_dataset / name)
    out = tmp_path / "r"
    result = bench("run", "--dataset", str(small_dataset), "--plugin", plugin, "--codec", "faulty", "--quality", "40",
                   "--executor", "ray", "--ray-address", cluster.address, "--timeout", "4", "--out", str(out),
                   "--save-bitstreams", "--no-report", "--no-progress")  # fmt: skip
    assert result.returncode == 1, result.stderr
    failures = {f["image"]: f for f in read_csv(out / "failures.csv")}
    assert {name: f["stage"] for name, f in failures.items()} == {"hangs.png": "timeout", "crashes.png": "worker"}
    assert "no result after 4 s" in failures["hangs.png"]["error"]
    assert "worker process died" in failures["crashes.png"]["error"]
    assert len(read_csv(out / "records.csv")) == 4  # the other images were measured
    assert sorted(p.name for p in (out / "bitstreams" / "faulty" / "40").iterdir()) == [
        "crop01.bin",
        "crop04.bin",
        "crop13.bin",
        "crop23.bin",
    ]  # fmt: skip  (written by the driver)
    shipped = {json.loads(extra)["plugin_file"] for (extra,) in store_rows(out, "SELECT extra FROM records")}
    assert len(shipped) == 1 and shipped != {plugin}  # the workers loaded a copy the driver sent them
    assert Path(shipped.pop()).read_text() == Path(plugin).read_text()


def test_a_node_with_other_versions_is_refused_not_mixed(cluster, tmp_path, small_dataset):
    driver_sees_other_numpy = (
        "import bench.executors.ray_node as node\n"
        "real = node.describe_node\n"
        "def other(gpu=False):\n"
        "    found = real(gpu)\n"
        "    return {**found, 'packages': {**found['packages'], 'numpy': '0.0'}}\n"
        "node.describe_node = other\n"
    )
    out = tmp_path / "r"
    result = bench("run", "--dataset", str(small_dataset), "--codec", "jpeg", "--quality", "50", "--executor", "ray",
                   "--ray-address", cluster.address, "--out", str(out), "--no-progress",
                   prelude=driver_sees_other_numpy)  # fmt: skip
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no node of the Ray cluster can measure for this run" in result.stderr
    assert "versions differ from the driver's: numpy" in result.stderr and "(driver: 0.0)" in result.stderr
    assert not (out / "records.csv").exists() or read_csv(out / "records.csv") == []


def test_without_ray_a_one_line_message_and_local_runs_never_import_it(tmp_path, small_dataset):
    code = textwrap.dedent(f"""
        import sys
        sys.modules["ray"] = None  # as if Ray were not installed
        from bench.cli import main
        status = main(["run", "--dataset", {str(small_dataset)!r}, "--codec", "jpeg", "--quality", "50",
                       "--executor", "ray", "--out", {str(tmp_path / "ray")!r}, "--no-progress"])
        assert status == 2, status
        del sys.modules["ray"]
        from bench.run.runner import RunConfig, run
        report = run(RunConfig(dataset={str(small_dataset)!r}, codecs=("jpeg",), qualities=(50,),
                               out={str(tmp_path / "local")!r}, jobs=1), progress=False, echo=lambda text: None)
        assert report.ok and len(report.records) == 4
        assert not any(name == "ray" or name.startswith("ray.") for name in sys.modules), "a local run imported Ray"
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                            env={**os.environ, "BENCH_DATA": str(data_root())})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == (
        "bench run: --executor ray needs Ray, which is not installed: pip install 'codec-bench[ray]'"
    )


#: The driver (a ``bench`` prelude) says how many actors it started, when it exits.
COUNT_ACTORS = (
    "import atexit\n"
    "import bench.executors.ray_driver as driver\n"
    "started = []\n"
    "start = driver.RayExecutor._start\n"
    "driver.RayExecutor._start = lambda self, node, gpu: started.append(node) or start(self, node, gpu)\n"
    "atexit.register(lambda: print(f'actors started: {len(started)}'))\n"
)


def test_no_more_actors_start_than_there_are_tasks(cluster, tmp_path, small_dataset):
    for image in sorted(small_dataset.iterdir())[1:]:  # one image, one quality: one task for two nodes
        image.unlink()
    result = bench("run", "--dataset", str(small_dataset), "--codec", "jpeg", "--quality", "50", "--executor", "ray",
                   "--ray-address", cluster.address, "--out", str(tmp_path / "r"), "--no-report", "--no-progress",
                   prelude=COUNT_ACTORS)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "actors started: 1" in result.stdout


def test_a_cluster_that_does_not_answer_is_a_one_line_error_naming_its_address(tmp_path, small_dataset):
    require(importlib.util.find_spec("ray") is not None, "Ray is not installed (pip install 'codec-bench[ray]')")
    address = f"127.0.0.1:{free_port()}"  # nothing listens there; the driver waits 1 s for it (30 s by default)
    started = time.monotonic()
    result = bench("run", "--dataset", str(small_dataset), "--codec", "jpeg", "--quality", "50", "--executor", "ray",
                   "--ray-address", address, "--out", str(tmp_path / "r"), "--no-progress", timeout=40,
                   prelude="import bench.executors.ray_driver as driver\ndriver.CONNECT_S = 1")  # fmt: skip
    assert result.returncode == 2 and time.monotonic() - started < 30
    assert result.stderr.startswith(f"bench run: no Ray cluster answers at {address} (--ray-address) within 1 s (")
    assert "that the cluster's head runs" in result.stderr and len(result.stderr.strip().splitlines()) == 1
