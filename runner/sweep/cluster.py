"""Sweep points on a running Dask distributed cluster (`--scheduler tcp://HOST:PORT`).

Each point is one Dask task. In the worker it runs `python -m runner.sweep.point` as a
child process (a Dask worker runs tasks in threads, and a run's processes must be forked
from a thread-free process); the point's row, metrics included, comes back through Dask, so
the sweep's table does not need the workers' files (the point folders are written where the
workers see `--out`; use a shared path to keep the series).

Stopping: on Ctrl-C the sweep sets a Dask `Event`; every running task sees it within
`POLL_S`, sends SIGINT to its point process (whose federation stops, partial results
kept) and returns. Queued tasks return at once. A point process also dies with its worker.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

POLL_S = 0.1
STOP_WAIT_S = 60.0


def remote_point(task: dict[str, Any], stop_event: str) -> dict[str, Any]:
    """Run one point in a child process of this Dask worker; stop it if the sweep says so."""
    from distributed import Event, get_worker

    from federates.process import die_with_parent

    stop = Event(stop_event)
    if stop.is_set():  # the sweep was stopped before this point started
        return {"id": task["id"], "status": "interrupted", "wall_time_s": None,
                "metrics": None, "error": "sweep interrupted before the point started"}
    with tempfile.TemporaryDirectory(prefix="gridfed-point-") as tmp:
        task_file, row_file = Path(tmp) / "task.json", Path(tmp) / "row.json"
        task_file.write_text(json.dumps(task))
        proc = subprocess.Popen([sys.executable, "-m", "runner.sweep.point", str(task_file),
                                 str(row_file)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True, preexec_fn=die_with_parent)
        stopped = False
        while proc.poll() is None:
            if not stopped and stop.is_set():
                proc.send_signal(signal.SIGINT)
                stopped = True
            time.sleep(POLL_S)
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if row_file.exists():
            return {**json.loads(row_file.read_text()), "worker": get_worker().address}
    return {"id": task["id"], "status": "error", "wall_time_s": None, "metrics": None,
            "error": f"point process exited with code {proc.returncode}: {stderr[-2000:]}"}


def run_on_cluster(address: str, tasks: list[dict[str, Any]],
                   on_row: Callable[[dict[str, Any]], None],
                   on_start: Callable[[int], None] | None = None) -> bool:
    """Submit every task to the cluster at `address`; call `on_row` as rows come back.
    Returns False if interrupted (Ctrl-C): the running points were stopped."""
    from distributed import Client, Event, as_completed

    with Client(address, timeout="20s") as client:
        token = secrets.token_hex(4)
        stop = Event(f"gridfed-sweep-stop-{token}", client=client)
        futures = [client.submit(remote_point, task, stop.name, pure=False,
                                 key=f"gridfed-point-{token}-{task['id']}") for task in tasks]
        if on_start:
            on_start(len(client.scheduler_info(n_workers=-1)["workers"]))
        try:
            for future in as_completed(futures):
                on_row(future.result())
            return True
        except KeyboardInterrupt:
            stop.set()  # running points stop, queued ones return at once
            deadline = time.monotonic() + STOP_WAIT_S
            for future in futures:
                if future.done():
                    continue
                try:
                    on_row(future.result(timeout=max(0.1, deadline - time.monotonic())))
                except Exception:  # noqa: BLE001 - lost with its worker: the point is missing
                    pass
            return False
