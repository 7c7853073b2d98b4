"""A kind defined outside gridfed (entry point `gridfed.kinds`) runs in a real federation,
with its own phase, payload and report, and no change to runner/."""

from __future__ import annotations

import json
import os

import pandas as pd

from tests.conftest import gridfed, write_scenario

ENTRY_POINTS = "[gridfed.kinds]\nmeter = tests.federations.thirdparty_kind:MeterFederate\n"


def install_entry_point(site: os.PathLike) -> dict[str, str]:
    """What `pip install` of a package declaring the kind would leave: a dist-info folder."""
    dist = os.path.join(site, "meterkind-0.1.dist-info")
    os.makedirs(dist)
    with open(os.path.join(dist, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: meterkind\nVersion: 0.1\n")
    with open(os.path.join(dist, "entry_points.txt"), "w") as f:
        f.write(ENTRY_POINTS)
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path}


def scenario(kind: str) -> dict:
    return {"name": "meter", "feeder": "ieee13", "duration": "30min", "period": "1min",
            "federates": {
                "load": {"kind": "player", "config": {"items": [
                    {"bus": "675", "profile": "residential", "p_kw": 300.0}]}},
                "grid": {"kind": "grid"},
                "meter": {"kind": kind},
                "recorder": {"kind": "recorder"}}}


def test_installed_kind_runs_with_its_phase_payload_and_report(tmp_path):
    env = install_entry_point(tmp_path / "site")
    path = write_scenario(tmp_path / "meter.yaml", scenario("meter"))
    run_dir = tmp_path / "run"
    result = gridfed("run", str(path), "--out", str(run_dir), env_extra=env)
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads((run_dir / "launch_plan.json").read_text())
    phases = {f["name"]: f["phase"] for f in plan["federates"]}
    assert phases["meter"] == 3 and phases["grid"] == 2
    ts = pd.read_parquet(run_dir / "timeseries.parquet")
    meter = ts[ts.signal == "meter.p_kw"].set_index("time").value
    pcc = ts[ts.signal == "grid.pcc_p_kw"].set_index("time").value
    assert len(meter) == 31
    # phase 3 > grid's 2: the meter reads the grid's solution of the same step
    pd.testing.assert_series_equal(meter, pcc.loc[meter.index], check_names=False)
    steps = ts[ts.signal == "meter.steps"].value.to_numpy()
    assert list(steps) == list(range(1, 32))
    report = json.loads((run_dir / "metrics.json").read_text())["federates"]["meter"]
    assert report == {"mean_kw": float(meter.mean()), "steps": 31}


def test_unknown_kind_names_the_entry_point_group_choices(tmp_path):
    path = write_scenario(tmp_path / "meter.yaml", scenario("meter"))
    result = gridfed("run", str(path), "--dry-run", "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "unknown federate kind 'meter'" in result.stderr
    assert not (tmp_path / "x").exists()


def test_same_kind_by_module_path_needs_no_installation(tmp_path):
    kind = "tests.federations.thirdparty_kind:MeterFederate"
    path = write_scenario(tmp_path / "meter.yaml", scenario(kind))
    result = gridfed("run", str(path), "--dry-run", "--out", str(tmp_path / "x"))
    assert result.returncode == 0, result.stdout + result.stderr
    config = json.loads((tmp_path / "x" / "configs" / "meter.json").read_text())
    assert config["kind"] == kind and config["runtime"]["phase"] == 3
    assert config["config"]["pcc_key"] == "grid/pcc_power"
