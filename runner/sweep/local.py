"""Local sweep workers: warm processes reused across points.

Each worker is forked from the sweep process once, imports what a run needs (`warm_up`),
then for every point forks a point process that compiles the point, forks the broker and
federates from itself (runner/sweep/fork.py), finalizes and sends its row back through a
pipe. The worker itself never starts a thread or a HELICS core, so every fork is from a
clean, warm process, and nothing a point leaves in memory reaches the next one.

Stopping: the sweep sends SIGINT to its workers; a worker passes one SIGINT to its point
process, whose federation stops like `gridfed run` on Ctrl-C (partial results kept). A
worker whose sweep dies gets SIGTERM (PR_SET_PDEATHSIG) and does the same before leaving;
a point process dies with its worker, and the federates with their point process.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from runner.sweep.point import run_point

_CHILD: int | None = None  # the worker's running point process
_FORWARDED = False
_STOPPING = False  # the sweep is stopping: points not yet started are not started


def _forward(signum: int, frame: Any) -> None:  # noqa: ARG001
    """Pass one SIGINT to the running point process; on SIGTERM also wait for it and leave."""
    global _FORWARDED, _STOPPING
    _STOPPING = True
    if _CHILD is not None and not _FORWARDED:
        _FORWARDED = True
        try:
            os.kill(_CHILD, signal.SIGINT)
        except ProcessLookupError:
            pass
    if signum == signal.SIGTERM:
        if _CHILD is not None:
            try:
                os.waitpid(_CHILD, 0)
            except ChildProcessError:
                pass
        os._exit(1)


def _init_worker(kinds: list[str]) -> None:
    from federates.process import die_with_parent
    from runner.sweep.fork import warm_up

    die_with_parent()
    signal.signal(signal.SIGINT, _forward)
    signal.signal(signal.SIGTERM, _forward)
    warm_up(kinds)


def _run_in_point_process(task: dict[str, Any]) -> dict[str, Any]:
    """Fork a point process, let it run the point, read its row."""
    global _CHILD, _FORWARDED
    if _STOPPING:
        return {"id": task["id"], "status": "interrupted", "wall_time_s": None,
                "metrics": None, "error": "sweep interrupted before the point started"}
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the point process
        os.close(read_fd)
        code = 0
        try:
            from federates.process import die_with_parent, terminate_as_interrupt

            os.setpgid(0, 0)  # a terminal's Ctrl-C reaches it once, through the worker
            die_with_parent()
            signal.signal(signal.SIGINT, signal.default_int_handler)
            terminate_as_interrupt()
            row = run_point(task, fork=os.environ.get("GRIDFED_SWEEP_FORK", "1") != "0")
            with os.fdopen(write_fd, "w") as sink:
                sink.write(json.dumps(row, default=str))
        except BaseException:  # noqa: BLE001 - the worker reports the missing row
            code = 1
        finally:
            os._exit(code)
    _CHILD, _FORWARDED = pid, False
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as source:
            data = source.read()
        _, status = os.waitpid(pid, 0)
    finally:
        _CHILD = None
    if data:
        return json.loads(data)
    return {"id": task["id"], "status": "error", "wall_time_s": None, "metrics": None,
            "error": f"point process ended with code {os.waitstatus_to_exitcode(status)} "
                     "and no result"}


class LocalPool:
    """`jobs` warm workers; `submit` a point task, get a future of its row."""

    def __init__(self, jobs: int, kinds: Iterable[str]):
        context = multiprocessing.get_context("fork")
        self.executor = ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                            initargs=(sorted(set(kinds)),))

    def submit(self, task: dict[str, Any]) -> Future:
        return self.executor.submit(_run_in_point_process, task)

    def interrupt(self) -> None:
        """Stop the running points (their rows come back as interrupted)."""
        for pid in list(getattr(self.executor, "_processes", {}) or {}):
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
