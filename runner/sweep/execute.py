"""`gridfed sweep SWEEP.yaml`: validate every point, run them (locally or on Dask), tabulate.

Every point is validated and compiled before anything runs. Points run `--jobs` at a time
on warm local workers (runner/sweep/local.py) or as Dask tasks (runner/sweep/cluster.py).
A failed point is recorded with its error and the sweep goes on; `--resume` reruns only
the points without a complete row. Ctrl-C stops the running points (their federations
stop as in `gridfed run`), writes the table of what is done and exits 130.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from runner.schema import ScenarioError, load_scenario
from runner.sweep.point import POINT_FILE, task_for
from runner.sweep.spec import Point, Sweep, load_sweep, validate_points
from runner.sweep.table import POINTS_FILE, SWEEP_FILE, point_dir, read_row

INTERRUPTED = 130


def default_jobs() -> int:
    """One point per core: a 1 h point keeps about one core busy."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def _points_json(sweep: Sweep) -> list[dict[str, Any]]:
    return [{"id": p.id, "params": p.params, "replicate": p.replicate, "seed": p.seed,
             "overrides": p.overrides} for p in sweep.points]


def prepare_dir(out: Path | None, sweep: Sweep, resume: bool) -> Path:
    """Create the sweep folder, or check that `--resume` continues the same sweep."""
    if out is None:
        out = Path("results") / f"{sweep.spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    points = _points_json(sweep)
    if resume:
        if not (out / POINTS_FILE).is_file():
            raise ScenarioError(f"--resume: {out} is not a sweep folder (no {POINTS_FILE})")
        if json.loads((out / POINTS_FILE).read_text()) != json.loads(json.dumps(points)):
            raise ScenarioError(f"--resume: {sweep.source.name} no longer expands to the "
                                f"points of {out}; resume with the same sweep file or start a "
                                "new folder")
        return out.resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ScenarioError(f"--out {out}: folder exists and is not empty; results are never "
                            "overwritten (use --resume to continue a sweep there)")
    out.mkdir(parents=True, exist_ok=True)
    (out / SWEEP_FILE).write_text(json.dumps(
        {"spec": sweep.spec.model_dump(mode="json"), "source": str(sweep.source),
         "scenario": str(sweep.scenario_path)}, indent=2) + "\n")
    (out / POINTS_FILE).write_text(json.dumps(points, indent=2) + "\n")
    return out.resolve()


def print_points(sweep: Sweep, console: Console) -> None:
    keys = sweep.spec.parameters.keys()
    table = Table("id", *keys, "replicate", "seed",
                  title=f"{sweep.spec.name}: {len(sweep.points)} points of "
                  f"{sweep.scenario_path.name}")
    for p in sweep.points:
        table.add_row(p.id, *(json.dumps(p.params[k]) for k in keys), str(p.replicate),
                      str(p.seed))
    console.print(table)


def _record(out: Path, point: Point, row: dict[str, Any]) -> None:
    folder = point_dir(out, point.id)
    folder.mkdir(parents=True, exist_ok=True)
    data = {"id": point.id, "params": point.params, "replicate": point.replicate,
            "seed": point.seed, "overrides": point.overrides, **row}
    (folder / POINT_FILE).write_text(json.dumps(data, indent=2, default=str) + "\n")


def execute_sweep(path: Path, console: Console, out: Path | None = None, jobs: int | None = None,
                  scheduler: str | None = None, resume: bool = False,
                  dry_run: bool = False) -> int:
    sweep = load_sweep(path)
    validate_points(sweep)
    if dry_run:
        print_points(sweep, console)
        return 0
    out = prepare_dir(out, sweep, resume)
    todo = [p for p in sweep.points if (read_row(out, p.id) or {}).get("status") != "ok"]
    for point in todo:  # a failed or interrupted point starts again from an empty folder
        shutil.rmtree(point_dir(out, point.id), ignore_errors=True)
    if resume:
        console.print(f"resuming {out}: {len(sweep.points) - len(todo)} points done, "
                      f"{len(todo)} to run")
    tasks = {p.id: task_for(p, sweep.scenario_path, point_dir(out, p.id),
                            full=sweep.spec.results == "full") for p in todo}
    by_id = {p.id: p for p in todo}
    done = _run(out, sweep, tasks, by_id, console, jobs, scheduler)
    from runner.sweep.report import write_report

    report = write_report(out)
    rows = [read_row(out, p.id) or {} for p in sweep.points]
    bad = [r.get("id") for r in rows if r.get("status") != "ok"]
    console.print(f"sweep: {len(rows) - len(bad)} of {len(rows)} points complete; table "
                  f"{out / 'sweep.parquet'}, report {report}")
    if not done:
        console.print("[bold red]sweep interrupted[/]: continue it with --resume")
        return INTERRUPTED
    if bad:
        console.print(f"[bold red]{len(bad)} point(s) not complete[/]: {', '.join(bad[:20])}")
        return 1
    return 0


def _run(out: Path, sweep: Sweep, tasks: dict[str, dict[str, Any]], by_id: dict[str, Point],
         console: Console, jobs: int | None, scheduler: str | None) -> bool:
    """Run the tasks with a progress bar; False if interrupted."""
    counts = {"failed": 0, "running": 0}
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.completed:.0f}/{task.total:.0f} done, "
                                   "{task.fields[failed]} failed, {task.fields[running]} "
                                   "running"),
                        TimeRemainingColumn(), console=console,
                        disable=not console.is_terminal)
    bar = progress.add_task(sweep.spec.name, total=len(tasks), failed=0, running=0)

    def on_row(row: dict[str, Any]) -> None:
        point = by_id[row["id"]]
        if row.get("status") == "interrupted":
            return  # not recorded: --resume runs it again
        _record(out, point, row)
        counts["failed"] += row.get("status") != "ok"
        progress.update(bar, advance=1, failed=counts["failed"])
        if not console.is_terminal:
            console.print(f"{point.id}: {row.get('status')} ({row.get('wall_time_s')} s)",
                          highlight=False)

    if not tasks:
        return True
    if scheduler:
        from runner.sweep.cluster import run_on_cluster

        def started(workers: int) -> None:
            progress.update(bar, running=min(workers, len(tasks)))

        with progress:
            return run_on_cluster(scheduler, list(tasks.values()), on_row, started)
    from concurrent.futures import FIRST_COMPLETED, wait

    from runner.sweep.local import LocalPool

    scenario = load_scenario(sweep.scenario_path, sweep.points[0].overrides)
    workers = min(jobs or default_jobs(), len(tasks))
    pool = LocalPool(workers, {f.kind for f in scenario.federates.values()})
    pending = {pool.submit(task) for task in tasks.values()}  # workers fork here, no thread yet
    try:
        with progress:
            while pending:
                progress.update(bar, running=min(workers, len(pending)))
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    on_row(future.result())
        return True
    except KeyboardInterrupt:
        pool.interrupt()
        for future in pending:
            future.cancel()  # queued points never start
        for future in pending:
            try:
                on_row(future.result(timeout=60))
            except Exception:  # noqa: BLE001 - cancelled: the point stays missing
                pass
        return False
    finally:
        pool.shutdown()
