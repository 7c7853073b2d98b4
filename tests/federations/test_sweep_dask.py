"""A sweep through a real Dask cluster on loopback: `dask scheduler` and two `dask worker`
processes started here, torn down at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pandas as pd
import pytest

from runner.launch import free_port
from tests.conftest import REPO, gridfed
from tests.federations.sweeps import federation_metrics, new_tag, small_sweep, tagged


@pytest.fixture
def cluster():
    """(scheduler address, worker addresses, tag of every cluster process)."""
    from distributed import Client

    tag = new_tag()
    env = dict(os.environ, GRIDFED_TEST_TAG=tag)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host",
                 "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard"],
                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            workers = set(client.scheduler_info()["workers"])
        yield address, workers, tag
    finally:
        for proc in reversed(procs):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_dask_sweep_runs_points_on_the_workers_with_single_run_metrics(tmp_path, cluster):
    address, workers, tag = cluster
    sweep = small_sweep(tmp_path, {"grid": {"grid.baseline.scale": [0.5, 1.0, 1.5, 2.0]}})
    out = tmp_path / "out"
    result = gridfed("sweep", str(sweep), "--out", str(out), "--scheduler", address,
                     timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    table = pd.read_parquet(out / "sweep.parquet")
    assert list(table["status"]) == ["ok"] * 4
    assert table["metrics.grid.energy_imported_kwh"].is_monotonic_increasing
    rows = [json.loads((out / "points" / p / "point.json").read_text()) for p in table["id"]]
    assert {r["worker"] for r in rows} <= workers  # run by the cluster, not locally
    # the same point as a single local run
    single = tmp_path / "single"
    sets = [a for item in rows[2]["overrides"] for a in ("--set", item)]
    run = gridfed("run", str(tmp_path / "small.yaml"), "--out", str(single), *sets)
    assert run.returncode == 0, run.stderr[-2000:]
    assert federation_metrics(single) == federation_metrics(out / "points" / "p002")
    # no point process outlives its task: only the scheduler and the two workers remain
    assert len(tagged(tag)) == 3
