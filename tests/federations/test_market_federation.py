"""Market federate through a real broker: houses bid, the market clears, devices follow."""

from __future__ import annotations

import json

import numpy as np

from runner.results import read_timeseries
from tests.conftest import REPO, assert_clean, gridfed


def test_market_scenario_runs_and_dispatches_the_houses(tmp_path):
    run_dir = tmp_path / "run"
    result = gridfed("run", str(REPO / "scenarios" / "market_ieee123.yaml"),
                     "--set", "duration=20min", "--out", str(run_dir), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    market = metrics["federates"]["market"]
    assert market["clearings"] == 2  # primary market at 0 and 15 min
    assert market["inexact_clearings"] == 0
    assert set(market["plots"]) == {"market_dlmp.png", "market_setpoints_vs_bids.png",
                                    "market_cost_welfare.png"}
    ts = read_timeseries(run_dir)
    dlmp = ts[ts["signal"] == "market.dlmp"]
    assert dlmp["id"].nunique() == 130 and np.isfinite(dlmp["value"]).all()
    # setpoints reached the devices: houses follow the market in the next step
    dispatched = ts[ts["signal"] == "houses.dispatched_agents"].set_index("time")["value"]
    assert dispatched.loc[0.0] == 0 and dispatched.loc[60.0] > 500
    # secondary markets cleared every 5 min and delivered the SMO setpoints
    sec = ts[ts["signal"] == "market.secondary.p_kw"]
    assert sorted(sec["time"].unique()) == [0.0, 300.0, 600.0, 900.0, 1200.0]
    # the PCC schedule is published for the resilience manager
    assert (ts["signal"] == "market.p_kw").any()
    # typed wire: every bid, response and setpoint arrived as its type; nothing was dropped
    wire = metrics["wire"]
    n_smo = ts[ts["signal"] == "market.secondary.p_kw"]["id"].nunique()
    assert wire["market"] == {"received": wire["market"]["received"]}
    assert wire["market"]["received"] >= 2 * n_smo  # two bids per SMO at least
    assert wire["houses"] == {"received": wire["houses"]["received"]}
    assert wire["houses"]["received"] >= n_smo
    assert_clean(run_dir)
