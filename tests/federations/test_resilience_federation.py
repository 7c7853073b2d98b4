"""Resilience manager + attacker through a real broker, around a toy feeder-and-market plant.

The plant (phase 'market') stands in for devices, grid and market: four SMOs with 60 kW of
spare generation each; every 15 min it 'clears' with the alpha factors it last received
(extra generation G (1 - f_i)), publishes the PCC import and its schedule, and sends each
SMO's telemetry from '<plant>/sp_<smo>' to the manager. The real attacker takes SMO 'd'
over at 30 min (it loses 100 kW and ignores dispatch) and cuts its links with a HELICS
drop filter; the manager is told nothing about it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from federates.messages import (
    AttackCommand,
    CoefficientUpdate,
    PccSchedule,
    Response,
    Telemetry,
)
from federates.runtime import Endpoint, FederateWrapper, Interfaces, Publication, StepIO
from tests.conftest import assert_clean, gridfed, write_scenario

SMOS = ["a", "b", "c", "d"]
P0, G, ATTACK_KW, MARKET_PERIOD = 1000.0, 60.0, 100.0, 900.0
T_ATTACK, T_END = 1800.0, 5400.0


class PlantConfig(BaseModel):
    manager: str = "rm"
    out: str = ""


class Plant(FederateWrapper):
    kind = "toy_plant"
    config_model = PlantConfig

    @classmethod
    def interfaces(cls, runtime, config) -> Interfaces:
        return Interfaces(
            publications=[Publication(port="pcc_power", type="vector"),
                          Publication(port="pcc_schedule", payload="PccSchedule")],
            endpoints=[Endpoint(port="attack"), Endpoint(port="coefficients"),
                       *[Endpoint(port=f"sp_{s}") for s in SMOS]])

    def on_start(self, io: StepIO) -> None:
        self.factors = dict.fromkeys(SMOS, 1.0)
        self.dispatch = dict.fromkeys(SMOS, 0.0)
        self.attacked = False
        self.log: list[dict] = []

    def on_step(self, io: StepIO) -> None:
        t = io.time
        for cmd in io.receive("attack", AttackCommand):
            self.attacked = cmd.action == "start"
        updates = io.receive("coefficients", CoefficientUpdate)
        for upd in updates:
            assert upd.relative
            self.factors.update({c.agent: c.alpha for c in upd.agents})
        if t % MARKET_PERIOD == 0:
            self.dispatch = {s: G * (1 - min(self.factors[s], 1.0)) for s in SMOS}
            io.publish("pcc_schedule", PccSchedule(
                time=t, period_start=t, period_end=t + MARKET_PERIOD,
                p_kw=P0 - sum(self.dispatch.values()), q_kvar=0.0))
        lost = {"d"} if self.attacked else set()
        measured = P0 - sum(v for s, v in self.dispatch.items() if s not in lost)
        measured += ATTACK_KW if self.attacked else 0.0
        io.publish("pcc_power", [measured, 0.0])
        for s in SMOS:  # 'd' still sends: the attacker's filter is what drops it
            dest = f"{self.config.manager}/telemetry"
            io.send(f"sp_{s}", dest, Telemetry(time=t, smo=s, agents=[f"{s}1"],
                                               response_error_kw=[0.0], anomaly=[0.0],
                                               messages_missed=[0]))
            io.send(f"sp_{s}", dest, Response(time=t, smo=s, scheduled_kw=-self.dispatch[s],
                                              achieved_kw=-self.dispatch[s]))
        self.log.append({"t": t, "measured": measured, "attacked": self.attacked,
                         "updates": [u.model_dump() for u in updates]})

    def on_stop(self, io: StepIO, completed: bool) -> None:
        Path(self.config.out).write_text(json.dumps(self.log))


def scenario(out: Path) -> dict:
    return {
        "name": "rm_toy", "feeder": "case33bw", "duration": "2h", "period": "1min",
        "federates": {
            "plant": {"kind": "tests.federations.test_resilience_federation:Plant", "phase": 3,
                      "config": {"manager": "rm", "out": str(out)}},
            "attacker": {"kind": "attacker", "config": {
                "attack_endpoint": "plant/attack", "iot_federate": "plant",
                "feeder_data": {"buses": SMOS},
                "attacks": [{"id": "dg_d", "start": "30min", "end": "90min", "type": "DG",
                             "targets": {"buses": ["d"]}, "scale_kw": ATTACK_KW,
                             "comm_cut": True}]}},
            "rm": {"kind": "resilience", "config": {
                "pcc_key": "plant/pcc_power", "schedule_key": "plant/pcc_schedule",
                "coefficients_endpoint": "plant/coefficients", "telemetry_period_s": None,
                "schedule_lag_steps": 0,
                "detection": {"threshold_kw": 10, "threshold_pct": 0, "confirm_steps": 2},
                "reweighting": {"mu_kw": 50}}},
            "recorder": {"kind": "recorder"},
        },
    }


def test_attack_detected_scored_mitigated_and_cleared_through_helics(tmp_path):
    log_path = tmp_path / "plant.json"
    path = write_scenario(tmp_path / "s.yaml", scenario(log_path))
    run_dir = tmp_path / "run"
    result = gridfed("run", str(path), "--out", str(run_dir), timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_clean(run_dir)
    log = {row["t"]: row for row in json.loads(log_path.read_text())}
    # the first coefficient update reaches the plant one step after detection (t + 2 steps)
    first = min(t for t, row in log.items() if row["updates"])
    assert first == T_ATTACK + 2 * 60
    update = log[first]["updates"][0]
    alpha = {c["agent"]: c["alpha"] for c in update["agents"]}
    assert max(alpha.values()) == alpha["d"] and alpha["a"] < 1  # the cut SMO is spared
    # import back within 2 % of pre-attack within three market periods
    restored = [t for t, row in log.items() if T_ATTACK < t < T_END
                and abs(row["measured"] - P0) <= 0.02 * P0]
    assert restored and restored[0] <= T_ATTACK + 3 * MARKET_PERIOD + 120
    # recorded: manager state, scores and the attacker's ground truth
    ts = pd.read_parquet(run_dir / "timeseries.parquet")
    detected = ts[(ts.signal == "rm.detected") & (ts.value > 0)].time
    assert detected.min() == T_ATTACK + 60
    cleared = ts[(ts.signal == "rm.detected") & (ts.time > T_END)]
    assert cleared.value.iloc[-1] == 0.0
    rs = ts[(ts.signal == "rm.scores.resilience") & (ts.time == T_END - 60)]
    rs = dict(zip(rs.id, rs.value, strict=True))
    assert rs["d"] < 0.05 < min(rs[s] for s in "abc")
    truth = ts[(ts.signal == "attacker.attacked") & (ts.id == "d")]
    assert truth.time.min() == T_ATTACK
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["federates"]["rm"]["detection_time_s"] == T_ATTACK + 60
    assert metrics["federates"]["rm"]["detection_delay_s"] == 60
