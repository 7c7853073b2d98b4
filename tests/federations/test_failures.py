"""Failures stop the whole federation, keep what was recorded, and leave nothing behind."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd

from federates.recorder.federate import DEFAULT_SLACK_STEPS
from tests.conftest import REPO, assert_clean, gridfed, interruptible, write_scenario


def base(duration="2h", **federates):
    return {"name": "fail", "feeder": "case33bw", "duration": duration, "period": "1min",
            "federates": {"grid": {"kind": "grid"},
                          "recorder": {"kind": "recorder", "config": {"chunk_steps": 10}},
                          **federates}}


def test_malformed_field_fails_before_anything_starts(tmp_path):
    data = base()
    data["federates"]["grid"]["config"] = {"baseline": {"scale": -2}}
    path = write_scenario(tmp_path / "bad.yaml", data)
    result = gridfed("run", str(path), "--out", str(tmp_path / "never"))
    assert result.returncode == 2
    assert "federates.grid.config.baseline.scale" in result.stderr
    assert "-2" in result.stderr and "greater than 0" in result.stderr
    assert not (tmp_path / "never").exists()


def test_federate_raising_mid_run_stops_everything(tmp_path):
    path = write_scenario(tmp_path / "s.yaml", base(
        faulty={"kind": "tests.fedtoys:Faulty", "phase": 4,
                "config": {"fail_at": 1800, "peer": "grid"}}))
    run_dir = tmp_path / "run"
    result = gridfed("run", str(path), "--out", str(run_dir))
    assert result.returncode == 1
    assert "faulty" in result.stdout and "boom at t=1800" in result.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] is False and metrics["failed_federate"] == "faulty"
    assert (run_dir / "INCOMPLETE").exists()
    ts = pd.read_parquet(run_dir / "timeseries.parquet")
    # producers follow the recorder's clock, so it is at most DEFAULT_SLACK_STEPS behind
    # the failure (the grid, which does not wait for the faulty federate, may be ahead)
    assert ts.time.max() >= 1800 - (DEFAULT_SLACK_STEPS + 1) * 60
    codes = metrics["exit_codes"]
    assert codes["faulty"] == 1
    # the others were stopped by HELICS's global error and left on their own, flushing
    assert codes["recorder"] == 3 and codes["grid"] == 3
    assert_clean(run_dir)


def test_wall_clock_timeout_stops_everything(tmp_path):
    path = write_scenario(tmp_path / "s.yaml", base())
    run_dir = tmp_path / "run"
    # an external federate that never comes keeps the federation waiting
    result = gridfed("run", str(path), "--out", str(run_dir), "--external", "ghost",
                     "--timeout", "3")
    assert result.returncode == 1
    assert "timeout" in result.stdout
    assert "waiting for external federate(s): ghost" in result.stdout
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "timeout"
    assert_clean(run_dir)


def test_ctrl_c_stops_everything(tmp_path):
    path = write_scenario(tmp_path / "s.yaml", base())
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "runner", "run", str(path), "--out",
                             str(run_dir), "--external", "ghost", "--timeout", "120"],
                            cwd=REPO, preexec_fn=interruptible, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    broker_log = run_dir / "logs" / "broker.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the federation is really up
        grid_log = run_dir / "logs" / "grid.log"
        if broker_log.exists() and "ready" in broker_log.read_text() and grid_log.exists():
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "interrupted" in out
    assert_clean(run_dir)
