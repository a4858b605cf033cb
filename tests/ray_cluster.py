"""A real Ray cluster of several nodes on this machine, for the tests and the benchmark scripts.

Each node is a ``ray start --block`` process (the head with ``--head``) in a session of its own, so
killing the processes of that session kills everything the node runs (its raylet, object store and
worker processes, which Ray puts in process groups of their own), as a machine that dies would; :meth:`LocalCluster.stop` kills them all, so nothing is left
behind. Every port is chosen free (two clusters, or a cluster and a user's own Ray, do not clash) and the
temporary folder is short (Ray's socket paths must fit in 107 characters).

Token authentication is off (:data:`ENV`, for the nodes and for the drivers that connect to them):
Ray 2.5x turns it on for a head when a token file exists (``~/.ray/auth_token``, written by any local
``ray.init()``) but not for the nodes that join it, which then cannot. The cluster listens on this
machine's addresses only for its lifetime.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
STARTED = "Ray runtime started"
#: Environment of the nodes, and of every driver that connects to them.
ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


#: Ports this process has handed out: a port freed by one check can be handed out again by the next, so
#: two components of one cluster could get the same number (seen: Ray refused to start its head).
_GIVEN: set[int] = set()


def free_ports(count: int) -> list[int]:
    """``count`` ports free now and never handed out before by this process, all different (their
    sockets are held open together while they are chosen)."""
    held, ports = [], []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sock.bind(("", 0))
            held.append(sock)
            port = sock.getsockname()[1]
            if port not in _GIVEN:
                _GIVEN.add(port)
                ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


def free_port() -> int:
    return free_ports(1)[0]


def session_members(sid: int) -> list[int]:
    """The processes of the session ``sid`` (Linux's /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid:  # after "pid (comm)": state, ppid, pgrp, session
                pids.append(int(entry.name))
    return pids


def _ports() -> list[str]:
    """Every port a node listens on, chosen free (Ray's defaults are fixed numbers two nodes would share)."""
    flags = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
             "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port")  # fmt: skip
    return [item for flag, port in zip(flags, free_ports(len(flags)), strict=True) for item in (flag, str(port))]


class LocalCluster:
    """A head node with ``head_cpus`` CPUs; :meth:`add_node` adds nodes, :meth:`kill` kills one."""

    def __init__(self, head_cpus: int = 1, object_store_mb: int = 256, start_timeout: float = 90) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cbray", dir="/tmp"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.object_store = str(object_store_mb * 2**20)
        self.start_timeout = start_timeout
        self.nodes: list[subprocess.Popen] = []
        self.head = self._start(
            ["--head", "--port", str(self.port), "--temp-dir", str(self.root), "--include-dashboard", "false"],
            head_cpus,
            "head",
        )

    def _start(self, args: list[str], cpus: int, name: str, gpus: int = 0) -> subprocess.Popen:
        log = self.root / f"{name}.log"
        env = {**os.environ, **ENV, "TMPDIR": str(self.root)}  # what the workers write goes away with the cluster
        with open(log, "w") as out:
            node = subprocess.Popen(
                [RAY, "start", "--block", *args, "--num-cpus", str(cpus), "--num-gpus", str(gpus),
                 "--object-store-memory", self.object_store, "--disable-usage-stats", *_ports()],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env,
            )  # fmt: skip
        self.nodes.append(node)
        deadline = time.monotonic() + self.start_timeout
        while STARTED not in log.read_text(errors="replace"):
            if node.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace")[-3000:]
                self.stop()
                raise RuntimeError(f"ray node {name} did not start:\n{text}")
            time.sleep(0.2)
        return node

    def add_node(self, cpus: int = 1, gpus: int = 0) -> subprocess.Popen:
        """Start a node of ``cpus`` CPUs that joins the head (returns once it runs; Ray may take a moment
        more to list it). ``gpus``: the GPUs it declares to Ray, whether it has them or not (Ray schedules
        by what nodes declare)."""
        return self._start(["--address", f"127.0.0.1:{self.port}"], cpus, f"node{len(self.nodes)}", gpus)

    def kill(self, node: subprocess.Popen) -> None:
        """SIGKILL every process of ``node`` (its session) at once: it dies as a machine that loses power."""
        for pid in session_members(node.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        node.wait(30)

    def stop(self) -> None:
        """Kill every node (the head last) and remove the temporary folder; safe to call twice."""
        for node in reversed(self.nodes):
            self.kill(node)
        self.nodes = []
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_nodes(address: str, count: int, timeout: float = 60) -> None:
    """Return once the cluster at ``address`` lists ``count`` live nodes (a driver connects briefly)."""
    code = (
        "import ray, sys, time\n"
        f"ray.init(address={address!r}, logging_level='ERROR')\n"
        f"deadline = time.monotonic() + {timeout}\n"
        f"while sum(n['Alive'] for n in ray.nodes()) < {count}:\n"
        "    if time.monotonic() > deadline: sys.exit('nodes missing')\n"
        "    time.sleep(0.2)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=timeout + 60, capture_output=True,
                   env={**os.environ, **ENV})  # fmt: skip
