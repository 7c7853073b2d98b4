"""Hosting-capacity study end to end: Monte Carlo in processes and on a dask cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from dask.distributed import LocalCluster

from runner.studies.hosting_capacity import Config, run
from runner.studies.hosting_capacity.montecarlo import run_samples

SMALL = dict(feeder="ieee13", peak_load_kva=None, pv_cap_kw=400, pv_step_kw=(30, 400),
             start_h=10, horizon_h=4, samples=3, dynamic_samples=0)


def test_samples_are_the_same_serial_in_processes_and_on_dask() -> None:
    cfg = Config(**SMALL)
    serial = run_samples(cfg, seed=7, jobs=1)
    procs = run_samples(cfg, seed=7, jobs=2)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        remote = run_samples(cfg, seed=7, scheduler=cluster.scheduler_address)
    assert serial == procs == remote
    assert [r["sample"] for r in serial] == [0, 1, 2]


def test_study_writes_results_tables_plots_and_report(tmp_path: Path) -> None:
    cfg = Config(**(SMALL | {"dynamic_samples": 1}))
    res = run(cfg, tmp_path, seed=1)
    for name in ("results.json", "levels.parquet", "buses.parquet", "samples.parquet",
                 "pv_map.png", "hc_distribution.png", "report.md"):
        assert (tmp_path / name).exists(), name
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["static_hc_pct"] == pytest.approx(res["static_hc_pct"])
    assert res["dynamic_hc_pct"] >= res["static_hc_pct"]
    levels = pd.read_parquet(tmp_path / "levels.parquet")
    assert set(levels["mode"]) == {"static", "static_worst_case", "dynamic"}
    buses = pd.read_parquet(tmp_path / "buses.parquet")
    assert buses["pv_static_kw"].sum() == pytest.approx(res["static_pv_kw"])
    samples = pd.read_parquet(tmp_path / "samples.parquet")
    assert len(samples) == 3 and samples["dynamic_hc_pct"].notna().sum() == 1
    assert "| MC static mean [%] |" in (tmp_path / "report.md").read_text()


def test_config_rejects_unknown_fields_and_bad_limits() -> None:
    with pytest.raises(ValueError, match="extra"):
        Config(nonsense=1)
    with pytest.raises(ValueError, match="v_min_pu"):
        Config(v_min_pu=1.1)
