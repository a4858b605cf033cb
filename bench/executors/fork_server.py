"""The first thing the local workers' fork server runs: it dies with the process that started it, and its children with it.

multiprocessing's fork server ends when every process that may ask it for a worker has closed its end
of a pipe, but the workers it forks hold that end too: a worker stuck in a task (a codec looping, or
hanging in native code) would keep itself, the fork server and multiprocessing's resource tracker
running after a ``kill -9`` of ``bench run``. So, as soon as it starts and before it loads the
measuring code, the fork server asks the kernel to kill it when its parent dies
(:func:`bench.api.processes.die_with_parent`), and every process it forks asks the same of the fork
server (:func:`die_with_server`): a killed ``bench`` takes its fork server with it, which takes its
workers, whatever they are doing (the kernel kills them, holding the GIL or not); the resource tracker
then finds every pipe end closed and exits.

:func:`bench.executors.local.worker_context` preloads this module first and tells it its parent's pid
through the environment (:data:`PARENT_ENV`, set only while the fork server starts), from the main
thread only: the kernel's "parent" is the thread that started the process, and a thread that ended
would take the fork server with it.
"""

from __future__ import annotations

import os

from bench.api.processes import die_with_parent

__all__ = ["PARENT_ENV", "die_with_server", "server_pid"]

#: The variable that tells a starting fork server the pid of the process that starts it.
PARENT_ENV = "CODEC_BENCH_FORK_SERVER_PARENT"
#: The fork server's pid, in the fork server and in the processes it forks; None elsewhere.
server_pid: int | None = None


def _start() -> None:
    """In a fork server that :func:`~bench.executors.local.worker_context` starts: die with its parent."""
    global server_pid
    parent = os.environ.pop(PARENT_ENV, "")
    if parent.isdigit():
        server_pid = os.getpid()
        die_with_parent(int(parent))


def die_with_server() -> None:
    """In a process the fork server forked: be killed when the fork server dies (exit now if it has)."""
    die_with_parent(server_pid)


_start()
