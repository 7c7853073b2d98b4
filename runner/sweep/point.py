"""One sweep point: a normal run of the base scenario with the point's `--set` items.

The point gets its own broker, free port, key and results folder (`DIR/points/<id>/`), the
same layout as `gridfed run --out DIR/points/<id> --set ...` (with `results: metrics`, no
plots and no report.md). `run_point` returns the point's row: status, error, wall time and
metrics.json. It runs in the process that calls it; `python -m runner.sweep.point TASK.json`
runs it in a fresh process (the Dask path).
"""

from __future__ import annotations

import json
import secrets
import sys
import time
import traceback
from pathlib import Path
from typing import Any

POINT_FILE = "point.json"  # the point's row, written by the sweep when the point ends


def task_for(point: Any, scenario_path: Path, out: Path, full: bool) -> dict[str, Any]:
    """What a point process needs (JSON-able: it travels to Dask workers)."""
    return {"id": point.id, "scenario": str(scenario_path), "overrides": point.overrides,
            "out": str(out), "full": full}


def run_point(task: dict[str, Any], fork: bool = False) -> dict[str, Any]:
    """Run one point here; never raises (a failure is the row's status and error).
    `fork`: start the broker and federates by forking this (warm) process."""
    start = time.monotonic()
    row: dict[str, Any] = {"id": task["id"], "status": "error", "error": None,
                           "wall_time_s": None, "metrics": None}
    try:
        row.update(_run(task, fork))
    except KeyboardInterrupt:
        row.update(status="interrupted", error="interrupted by the user")
    except Exception as exc:  # noqa: BLE001 - the sweep records it and goes on
        row["error"] = f"{exc!r}\n{traceback.format_exc(limit=5)}"
    row["wall_time_s"] = round(time.monotonic() - start, 3)
    return row


def _run(task: dict[str, Any], fork: bool) -> dict[str, Any]:
    from runner.compile import compile_scenario
    from runner.launch import PortLock, free_port, run_federation, tail
    from runner.results import finalize, make_run_dir, write_resolved_scenario
    from runner.schema import load_scenario

    clock = [time.monotonic()]
    path = Path(task["scenario"])
    scenario = load_scenario(path, task["overrides"])
    run_dir = make_run_dir(Path(task["out"]), scenario.name)
    clock.append(time.monotonic())
    lock = PortLock()
    lock.acquire()  # released once this point's cores have bound their ports
    clock.append(time.monotonic())
    try:
        span = 2 if scenario.broker.core_type == "zmq" else 1
        port = free_port(scenario.broker.host, span)
        key = secrets.token_hex(8)
        plan = compile_scenario(scenario, run_dir, port, key, f"gridfed-{key[:8]}")
        write_resolved_scenario(run_dir, scenario, str(path), task["overrides"])
        plan.write(run_dir)
        spawn = None
        if fork:
            from runner.sweep.fork import fork_spawn

            spawn = fork_spawn
        clock.append(time.monotonic())
        outcome = run_federation(plan, run_dir, scenario.timeout, on_started=lock.release,
                                 spawn=spawn)
    finally:
        lock.release()
    clock.append(time.monotonic())
    status = {"scenario": scenario.name, "status": outcome.status,
              "message": outcome.message, "failed_federate": outcome.failed,
              "wall_time_s": round(outcome.wall_time_s, 3), "exit_codes": outcome.exit_codes}
    metrics = finalize(run_dir, status, plots=bool(task["full"]))
    (run_dir / "progress.json").unlink(missing_ok=True)
    error = None
    if not outcome.ok:
        error = outcome.message
        if outcome.failed:
            error += f"\n--- last lines of logs/{outcome.failed}.log ---\n"
            error += tail(run_dir / "logs" / f"{outcome.failed}.log", 15)
    state = "ok" if outcome.ok else ("interrupted" if outcome.status == "interrupted"
                                     else "failed")
    clock.append(time.monotonic())
    names = ("load_s", "port_lock_s", "compile_s", "federation_s", "finalize_s")
    phases = {n: round(clock[i + 1] - clock[i], 3) for i, n in enumerate(names)}
    return {"status": state, "error": error, "metrics": metrics, "phases": phases}


def main(argv: list[str]) -> int:
    """`python -m runner.sweep.point TASK.json ROW.json`: run one point, write its row."""
    from federates.process import die_with_parent, terminate_as_interrupt
    from runner.sweep.fork import warm_up

    die_with_parent()
    terminate_as_interrupt()
    task = json.loads(Path(argv[0]).read_text())
    warm_up()
    row = run_point(task, fork=True)
    Path(argv[1]).write_text(json.dumps(row, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
