"""player -> grid -> recorder through a real broker on IEEE 123, checked against OpenDSS."""

import json
import subprocess
import sys

import numpy as np
import opendssdirect as dss
import pandas as pd
import pytest

import feeders
from federates.common.profiles import profile_values
from federates.player.config import PlayerConfig
from federates.player.model import PlayerModel
from tests.conftest import REPO, assert_clean, gridfed, write_scenario

PV = [{"bus": "48", "profile": "pv_clear_sky", "p_kw": -300.0},
      {"bus": "65", "profile": "pv_clear_sky", "p_kw": -250.0, "power_factor": -0.95},
      {"bus": "76", "profile": "residential", "p_kw": 80.0}]


def scenario(name="fed", duration="3h"):
    return {
        "name": name, "seed": 3, "feeder": "ieee123", "duration": duration,
        "period": "1min", "timeout": "5min",
        "federates": {
            "pv": {"kind": "player", "config": {"items": PV}},
            "grid": {"kind": "grid", "config": {
                "baseline": {"shape": "residential"},
                "controls": {"locked_taps": "published", "capacitors": False}}},
            "recorder": {"kind": "recorder", "config": {"chunk_steps": 30}},
        },
    }


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("fed")
    path = write_scenario(base / "fed.yaml", scenario())
    result = gridfed("run", str(path), "--out", str(base / "run"), "--set", "duration=3h")
    assert result.returncode == 0, result.stdout + result.stderr
    return base, path, base / "run"


def standalone_pcc(t: float) -> float:
    """Solve IEEE 123 in plain OpenDSS with the injections of time t (no gridfed code path)."""
    feeder = feeders.load("ieee123")
    for command in feeder.dss_commands(taps=feeder.published_taps, lock_controls=True):
        dss.Text.Command(command)
    for name in dss.CapControls.AllNames() or []:
        dss.Text.Command(f"CapControl.{name}.enabled=no")
    dss.Solution.Convergence(1e-8)
    mult = float(profile_values("residential", t)[0])
    dss.Solution.LoadMult(mult)
    items = PlayerModel(PlayerConfig(items=PV)).injections(t)
    for i, inj in enumerate(items):
        dss.Circuit.SetActiveBus(inj.bus)
        nodes = [n for n in dss.Bus.Nodes() if n in (1, 2, 3)]
        kv = dss.Bus.kVBase() * np.sqrt(3)
        # LoadMult scales these too, so divide: the power drawn is what the player asked for
        dss.Text.Command(
            f"New Load.check{i} bus1={inj.bus}.{'.'.join(map(str, nodes))} phases={len(nodes)} "
            f"kV={kv} model=1 vminpu=0.5 vmaxpu=1.5 kW={inj.p_kw / mult} kvar={inj.q_kvar / mult}")
    dss.Solution.Solve()
    assert dss.Solution.Converged()
    dss.Circuit.SetActiveElement(feeder.pcc_element)
    powers = np.asarray(dss.CktElement.Powers())
    return feeder.pcc_sign * float(powers[: len(powers) // 2][0::2].sum())


def test_recorded_pcc_is_the_opendss_solution_of_the_same_step(baseline_run):
    _, _, run_dir = baseline_run
    ts = pd.read_parquet(run_dir / "timeseries.parquet")
    pcc = ts[ts.signal == "grid.pcc_p_kw"].set_index("time")["value"]
    assert len(pcc) == 181 and pcc.index[0] == 0 and pcc.index[-1] == 3 * 3600
    for t in (600.0, 5400.0, 9000.0):  # the residential item changes every minute
        expected = standalone_pcc(t)
        assert pcc[t] == pytest.approx(expected, rel=1e-6)
        lagged = standalone_pcc(t - 60.0)
        assert abs(lagged - expected) > 1e-3  # the check would catch a one-step lag
    vector = ts[(ts.signal == "grid.pcc_power") & (ts.id == "0")].set_index("time")["value"]
    assert np.allclose(vector.to_numpy(), pcc.to_numpy())


def test_results_folder_layout_and_metrics(baseline_run):
    _, _, run_dir = baseline_run
    for name in ("scenario.yaml", "timeseries.parquet", "metrics.json", "launch_plan.json",
                 "configs/grid.json", "logs/grid.log", "logs/broker.log",
                 "plots/pcc_power.png", "plots/voltage_envelope.png",
                 "plots/voltage_profile_peak.png"):
        assert (run_dir / name).exists(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] is True and metrics["status"] == "ok"
    grid = metrics["federates"]["grid"]
    ts = pd.read_parquet(run_dir / "timeseries.parquet")
    p = ts[ts.signal == "grid.pcc_p_kw"]["value"]
    assert grid["peak_import_kw"] == pytest.approx(p.max(), abs=1e-3)
    assert grid["energy_imported_kwh"] == pytest.approx(p.clip(lower=0).sum() / 60, rel=1e-6)
    v = ts[ts.signal == "grid.v_pu"]["value"]
    assert grid["v_min_pu"] == pytest.approx(v[v > 0.1].min(), abs=1e-5)
    assert not (run_dir / "INCOMPLETE").exists()
    assert_clean(run_dir)


def test_same_seed_gives_identical_parquet_and_concurrent_runs_do_not_mix(baseline_run):
    base, path, run_dir = baseline_run
    reference = pd.read_parquet(run_dir / "timeseries.parquet")
    procs = [subprocess.Popen([sys.executable, "-m", "runner", "run", str(path), "--out",
                               str(base / f"par{i}"), "--set", "duration=3h"], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    ports = set()
    for i in range(2):
        other = pd.read_parquet(base / f"par{i}" / "timeseries.parquet")
        pd.testing.assert_frame_equal(reference, other)
        ports.add(json.loads((base / f"par{i}" / "launch_plan.json").read_text())
                  ["broker"]["address"])
        assert_clean(base / f"par{i}")
    assert len(ports) == 2


def test_global_time_coordination_gives_the_same_results(baseline_run):
    """The broker's global time grants and the federates' own negotiation (the default)
    give the same time series."""
    base, path, run_dir = baseline_run
    out = base / "global"
    result = gridfed("run", str(path), "--out", str(out), "--set", "duration=3h",
                     "--set", "broker.time_coordination=global")
    assert result.returncode == 0, result.stdout + result.stderr
    plans = [json.loads((d / "launch_plan.json").read_text())["broker"] for d in (run_dir, out)]
    assert [p["time_coordination"] for p in plans] == ["distributed", "global"]
    pd.testing.assert_frame_equal(pd.read_parquet(run_dir / "timeseries.parquet"),
                                  pd.read_parquet(out / "timeseries.parquet"))
    assert_clean(out)


def test_existing_results_folder_is_never_overwritten(baseline_run):
    base, path, run_dir = baseline_run
    before = (run_dir / "metrics.json").read_text()
    result = gridfed("run", str(path), "--out", str(run_dir))
    assert result.returncode != 0
    assert "exists" in result.stderr + result.stdout
    assert (run_dir / "metrics.json").read_text() == before


def test_dry_run_writes_configs_and_plan_only(tmp_path):
    path = write_scenario(tmp_path / "s.yaml", scenario())
    result = gridfed("run", str(path), "--out", str(tmp_path / "dry"), "--dry-run")
    assert result.returncode == 0, result.stderr
    plan = json.loads((tmp_path / "dry" / "launch_plan.json").read_text())
    assert plan["broker"]["address"].startswith("tcp://127.0.0.1:")
    assert [f["name"] for f in plan["federates"]] == ["pv", "grid", "recorder"]
    grid = json.loads((tmp_path / "dry" / "configs" / "grid.json").read_text())
    assert grid["config"]["injection_sources"] == ["pv"]
    assert "pv/injections" in grid["runtime"] or plan["federates"][1]["subscriptions"] == [
        "pv/injections"]
    assert not (tmp_path / "dry" / "timeseries.parquet").exists()
    assert not (tmp_path / "dry" / "logs").exists()
    assert plan["broker"]["time_coordination"] == "distributed"  # the default
    result = gridfed("run", "market_ieee123", "--out", str(tmp_path / "market"), "--dry-run",
                     "--set", "broker.time_coordination=global")
    assert result.returncode == 0, result.stderr
    plan = json.loads((tmp_path / "market" / "launch_plan.json").read_text())
    assert plan["broker"]["time_coordination"] == "global"
    # 'auto' (which picked global time when a market ran) is gone: say so, and what is known
    result = gridfed("run", "market_ieee123", "--out", str(tmp_path / "auto"), "--dry-run",
                     "--set", "broker.time_coordination=auto")
    assert result.returncode == 2
    assert "broker.time_coordination" in result.stderr and "distributed" in result.stderr


def test_recorder_slack_by_default_only_without_a_market(tmp_path):
    def runtimes(scenario_arg: str, out: str, *sets: str) -> dict[str, dict]:
        extra = [a for s in sets for a in ("--set", s)]
        result = gridfed("run", scenario_arg, "--out", str(tmp_path / out), "--dry-run", *extra)
        assert result.returncode == 0, result.stderr
        return {p.stem: json.loads(p.read_text())["runtime"]
                for p in (tmp_path / out / "configs").glob("*.json") if p.stem != "launch_plan"}

    path = write_scenario(tmp_path / "s.yaml", scenario())
    plain = runtimes(str(path), "plain")
    assert plain["grid"]["follow"] == ["recorder/clock"]
    assert plain["recorder"]["output_delay"] == 10 * 60.0
    market = runtimes("market_ieee123", "market")
    assert all(r["follow"] == [] for r in market.values())
    assert market["recorder"]["output_delay"] == 0.0
    chosen = runtimes("market_ieee123", "chosen", "federates.recorder.config.slack_steps=3")
    assert chosen["houses"]["follow"] == ["recorder/clock"]
    assert chosen["recorder"]["output_delay"] == 3 * 60.0
