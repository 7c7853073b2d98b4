"""Houses + grid + a toy market + recorder through a real HELICS broker (gridfed run).

The toy market (phase 3) answers every FlexibilityBid with a setpoint at the bid's p_min
and, at T_ATTACK, has the attacker's part: an LA attack on one bus until T_END.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from federates.messages import AttackCommand, FlexibilityBid, Response, Setpoint
from federates.runtime import Endpoint, FederateWrapper, Interfaces, Publication, StepIO
from tests.conftest import assert_clean, gridfed, write_scenario

T_ATTACK, T_END, BUS = 900.0, 1200.0, "671"


class HarnessConfig(BaseModel):
    iot: str = "houses"
    out: str = ""


class MarketHarness(FederateWrapper):
    kind = "iot_test_market"
    config_model = HarnessConfig
    config: HarnessConfig

    @classmethod
    def interfaces(cls, runtime, config) -> Interfaces:
        return Interfaces(publications=[Publication(port="setpoints_sent", type="double")],
                          endpoints=[Endpoint(port="bids"), Endpoint(port="attack")])

    def on_start(self, io: StepIO) -> None:
        self.log: dict[str, list] = {"bids": [], "responses": [], "sources": []}

    def on_step(self, io: StepIO) -> None:
        iot = self.config.iot
        for source, msg in io.receive_from("bids", FlexibilityBid, Response):
            self.log["sources"].append(source)
            if isinstance(msg, FlexibilityBid):
                bid = msg
                self.log["bids"].append([io.time, bid.smo, bid.p0_kw, bid.p_min_kw,
                                         bid.p_max_kw, bid.period_start, bid.period_end])
                io.send("bids", f"{iot}/sp_{bid.smo}", Setpoint(
                    time=io.time, smo=bid.smo, period_start=bid.period_start,
                    period_end=bid.period_end, p_kw=bid.p_min_kw, q_kvar=0.0))
            else:
                r = msg
                self.log["responses"].append([io.time, r.smo, r.scheduled_kw, r.achieved_kw])
        io.publish("setpoints_sent", float(len(self.log["bids"])))
        for t, action in ((T_ATTACK, "start"), (T_END, "stop")):
            if io.time == t:
                io.send("attack", f"{iot}/attack", AttackCommand(
                    time=t, attack_id="la", action=action, type="LA", buses=[BUS]))

    def on_stop(self, io: StepIO, completed: bool) -> None:
        Path(self.config.out).write_text(json.dumps(self.log))


def scenario(out: Path) -> dict:
    return {
        "name": "iot_toy", "feeder": "ieee13", "seed": 3, "duration": "30min",
        "period": "1min",
        "federates": {
            "grid": {"kind": "grid", "config": {"baseline": {"shape": "none"}}},
            "houses": {"kind": "iot", "config": {
                "population": {"houses": 60, "waterheater": {"share": 0.3},
                               "pv": {"share": 0.3, "volt_var": True},
                               "battery": {"share": 0.2},
                               "ev": {"share": 0.1}},
                "start_hour": 15, "market": "market/bids", "market_period_s": 300,
                "response_period_s": 0}},  # a Response every step
            "market": {"kind": "tests.federations.test_iot_federation:MarketHarness", "phase": 3,
                       "config": {"out": str(out)}},
            "recorder": {"kind": "recorder"},
        },
    }


def test_houses_bid_follow_setpoints_and_feed_the_grid_through_helics(tmp_path):
    log_path = tmp_path / "market.json"
    path = write_scenario(tmp_path / "s.yaml", scenario(log_path))
    run_dir = tmp_path / "run"
    result = gridfed("run", str(path), "--out", str(run_dir), timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_clean(run_dir)
    log = json.loads(log_path.read_text())
    bids = pd.DataFrame(log["bids"], columns=["t", "smo", "p0", "lo", "hi", "start", "end"])
    smos = sorted(bids.smo.unique())
    assert BUS in smos and len(smos) >= 8
    assert sorted(bids.t.unique()) == [0.0, 300.0, 600.0, 900.0, 1200.0, 1500.0, 1800.0]
    assert (bids.lo <= bids.p0 + 1e-9).all() and (bids.p0 <= bids.hi + 1e-9).all()
    assert ((bids.start - bids.t) == 60.0).all() and ((bids.end - bids.start) == 300.0).all()
    assert {s for s in log["sources"]} == {f"houses/sp_{s}" for s in smos}  # per-SMO links
    resp = pd.DataFrame(log["responses"], columns=["t", "smo", "sched", "achieved"])
    calm = resp[(resp.t < T_ATTACK) | (resp.t > T_END + 60)]
    err = (calm.achieved - calm.sched).abs()
    assert not calm.empty and (err <= 0.1 * calm.sched.abs() + 1.0).mean() > 0.95
    hit = resp[(resp.smo == BUS) & (resp.t > T_ATTACK + 60) & (resp.t < T_END)]
    assert not hit.empty and (hit.achieved > hit.sched + 1.0).all()  # forced on, ignores sp
    ts = pd.read_parquet(run_dir / "timeseries.parquet")
    pcc = ts[ts.signal == "grid.pcc_p_kw"].set_index("time").value
    losses = ts[ts.signal == "grid.losses_kw"].set_index("time").value
    total = ts[ts.signal == "houses.total_kw"].set_index("time").value
    assert len(total) == 31
    diff = (pcc - losses - total).abs()
    assert diff.max() < 1e-3 * total.abs().max()  # the grid solves this step's injections
    config = json.loads((run_dir / "configs" / "houses.json").read_text())["config"]
    assert config["grid_state"] == "grid/state"  # volt-var reads the grid's voltages
    metrics = json.loads((run_dir / "metrics.json").read_text())["federates"]["houses"]
    assert metrics["recorded"] and metrics["attacked_agents_max"] > 0
    assert all((run_dir / "plots" / p).exists() for p in metrics["plots"])
