"""Local sweeps of a small ieee13 scenario (player + grid + recorder, 10 min): the table,
a failing point, identical metrics to single runs, resume after a kill, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import time

import pandas as pd

from tests.conftest import gridfed
from tests.federations.sweeps import (
    federation_metrics,
    new_tag,
    small_sweep,
    start_sweep,
    tagged,
)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sweep_table_failing_point_single_run_metrics_and_resume(tmp_path):
    ramp = tmp_path / "ramp.csv"  # absent at first: that point's player fails
    sweep = small_sweep(tmp_path, {"zip": {"pv.items.0.profile": ["flat", "pv_clear_sky",
                                                                   str(ramp)],
                                           "grid.baseline.scale": [0.5, 1.0, 1.5]}})
    out = tmp_path / "out"
    first = gridfed("sweep", str(sweep), "--out", str(out), "--jobs", "2", timeout=120)
    assert first.returncode == 1, first.stdout + first.stderr
    table = pd.read_parquet(out / "sweep.parquet")
    assert list(table["id"]) == ["p000", "p001", "p002"]
    assert list(table["status"]) == ["ok", "ok", "failed"]
    assert list(table["grid.baseline.scale"]) == [0.5, 1.0, 1.5]
    failed = json.loads((out / "points" / "p002" / "point.json").read_text())
    assert "pv exited" in failed["error"] and "ramp.csv" in failed["error"]
    # every scalar of metrics.json is a dotted column
    ok = json.loads((out / "points" / "p001" / "point.json").read_text())
    assert table.loc[1, "metrics.grid.energy_imported_kwh"] == \
        ok["metrics"]["federates"]["grid"]["energy_imported_kwh"]
    assert table.loc[0, "metrics.grid.energy_imported_kwh"] < \
        table.loc[1, "metrics.grid.energy_imported_kwh"]  # half the load
    # a point's metrics are those of a single `gridfed run` with its --set items
    single = tmp_path / "single"
    sets = [a for item in ok["overrides"] for a in ("--set", item)]
    run = gridfed("run", str(tmp_path / "small.yaml"), "--out", str(single), *sets)
    assert run.returncode == 0, run.stderr[-2000:]
    assert federation_metrics(single) == federation_metrics(out / "points" / "p001")
    assert "pcc_power.png" in json.loads((single / "metrics.json").read_text())[
        "federates"]["grid"]["plots"]
    assert not (out / "points" / "p001" / "plots").exists()  # metrics-only points
    report = (out / "report.md").read_text()
    assert "| p002 | failed |" in report and "![vs_grid_baseline_scale_1]" in report
    # --resume reruns only the failed point (its profile now exists)
    ramp.write_text("time_s,value\n0,0.2\n600,0.8\n")
    stamps = {p: (out / "points" / p / "point.json").stat().st_mtime_ns
              for p in ("p000", "p001")}
    again = gridfed("sweep", str(sweep), "--out", str(out), "--resume", timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 points done, 1 to run" in again.stdout
    assert stamps == {p: (out / "points" / p / "point.json").stat().st_mtime_ns
                      for p in stamps}
    assert list(pd.read_parquet(out / "sweep.parquet")["status"]) == ["ok"] * 3
    # `gridfed report` regenerates the table and report of a sweep folder
    (out / "report.md").unlink()
    (out / "sweep.parquet").unlink()
    regen = gridfed("report", str(out))
    assert regen.returncode == 0 and (out / "report.md").read_text().startswith("# Sweep")
    assert len(pd.read_parquet(out / "sweep.parquet")) == 3


def test_killed_sweep_leaves_nothing_running_and_resumes(tmp_path):
    sweep = small_sweep(tmp_path, {"grid": {"grid.baseline.scale": [0.6, 0.8, 1.0, 1.2]}},
                        set={"duration": "2h"})
    out, tag = tmp_path / "out", new_tag()
    proc = start_sweep(str(sweep), "--out", str(out), "--jobs", "1", tag=tag)
    first = out / "points" / "p000" / "point.json"
    wait_for(lambda: first.exists() and (out / "points" / "p001" / "logs").is_dir(), 60,
             "the first point to end and the second to start")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    wait_for(lambda: not tagged(tag), 30, "the sweep's processes to exit")
    stamp = first.stat().st_mtime_ns
    resumed = gridfed("sweep", str(sweep), "--out", str(out), "--resume", timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "1 points done, 3 to run" in resumed.stdout or \
        "2 points done, 2 to run" in resumed.stdout
    assert first.stat().st_mtime_ns == stamp
    table = pd.read_parquet(out / "sweep.parquet")
    assert list(table["status"]) == ["ok"] * 4
    assert table["metrics.grid.energy_imported_kwh"].is_monotonic_increasing


def test_ctrl_c_stops_running_points_and_leaves_no_process(tmp_path):
    sweep = small_sweep(tmp_path, {"grid": {"grid.baseline.scale": [0.8, 1.0, 1.2]}},
                        set={"duration": "48h"})
    out, tag = tmp_path / "out", new_tag()
    proc = start_sweep(str(sweep), "--out", str(out), "--jobs", "2", tag=tag)
    progress = [out / "points" / p / "progress.json" for p in ("p000", "p001")]
    wait_for(lambda: all(p.exists() for p in progress), 60, "two points to be stepping")
    os.kill(proc.pid, signal.SIGINT)
    console, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, console
    assert "continue it with --resume" in console
    assert tagged(tag) == []
    for point in ("p000", "p001"):  # stopped, partial results kept, not recorded as done
        assert (out / "points" / point / "INCOMPLETE").exists()
        assert not (out / "points" / point / "point.json").exists()
    assert not (out / "points" / "p002").exists()  # never started
    assert list(pd.read_parquet(out / "sweep.parquet")["status"]) == ["missing"] * 3
