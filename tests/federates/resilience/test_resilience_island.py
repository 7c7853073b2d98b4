"""Resilience manager on an islanded feeder: it watches the grid-forming unit, not the PCC.

Toy island (no HELICS): four SMOs with 60 kW spare generation each; the grid-forming unit
supplies the island's net load L - sum_i G_i (1 - f_i) with f_i the alpha factor the
manager sent, and the PCC import is 0 throughout. SMO 'd' is attacked at t = 30 min: it
loses 100 kW of generation and its links are cut. The market clears every 15 min and, like
the project's market, folds the measured loads into its next schedule.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from federates.messages import GridState, PccSchedule, Telemetry
from federates.resilience.config import ManagerConfig, ResilienceConfig
from federates.resilience.detection import DetectionConfig
from federates.resilience.federate import ResilienceFederate
from federates.resilience.manager import ResilienceManager
from federates.resilience.reweighting import ReweightConfig
from federates.runtime import RuntimeConfig, ScenarioContext
from runner.compile import compile_scenario
from runner.schema import ScenarioError, load_scenario

LOAD, G, ATTACK_KW = 800.0, 60.0, 100.0
STEP, PERIOD = 60.0, 900.0
T_ATTACK, T_END = 1800.0, 7200.0
SMOS = ["a", "b", "c", "d"]


def config(watch: str = "grid_forming") -> ManagerConfig:
    return ManagerConfig(watch=watch, telemetry_period_s=None, schedule_lag_steps=0,
                         warmup_s=0.0, end_on_schedule_match=False,
                         detection=DetectionConfig(threshold_kw=10, threshold_pct=0,
                                                   confirm_steps=1, clear_steps=3),
                         reweighting=ReweightConfig(mu_kw=50.0))


def simulate(watch: str = "grid_forming", stop: float = 6300.0):
    """Returns the manager and a trace of (time, unit output, PCC import, step output)."""
    rm = ResilienceManager(config(watch))
    factors = dict.fromkeys(SMOS, 1.0)
    dispatch = dict.fromkeys(SMOS, 0.0)
    output = LOAD
    trace = []
    t = 0.0
    while t <= stop:
        attacked = T_ATTACK <= t < T_END
        if t % PERIOD == 0:
            dispatch = {s: G * (1 - min(factors[s], 1.0)) for s in SMOS}
            seen = ATTACK_KW if T_ATTACK < t <= T_END else 0.0  # folded into the schedule
            rm.add_schedule(PccSchedule(
                time=t, period_start=t, period_end=t + PERIOD, p_kw=0.0, q_kvar=0.0,
                grid_forming_p_kw=LOAD - sum(dispatch.values()) + seen,
                grid_forming_q_kvar=100.0))
            # a secondary-only re-evaluation says nothing about the unit: ignored
            rm.add_schedule(PccSchedule(time=t, period_start=t, period_end=t + 300.0,
                                        p_kw=123.0, q_kvar=0.0))
        output = LOAD - sum(v for s, v in dispatch.items() if not (attacked and s == "d"))
        output += ATTACK_KW if attacked else 0.0
        for s in SMOS:
            if not (attacked and s == "d"):  # the attacked SMO's link is cut
                rm.add_telemetry(Telemetry(time=t, smo=s, agents=[f"{s}1"],
                                           response_error_kw=[0], anomaly=[0.0],
                                           messages_missed=[0]))
        measured = output if watch == "grid_forming" else 0.0  # the PCC imports nothing
        out = rm.step(t, measured)
        if out.update is not None:
            factors.update({c.agent: c.alpha for c in out.update.agents})
        trace.append((t, output, out))
        t += STEP
    return rm, trace


def test_attack_on_the_island_is_detected_from_the_grid_forming_output():
    rm, trace = simulate()
    alerts = [(t, a.kind) for t, _, out in trace for a in out.alerts]
    assert alerts[:2] == [(T_ATTACK, "attack_detected"), (T_ATTACK, "mitigation_started")]
    state = {t: out.state for t, _, out in trace}
    # the reference is the unit's pre-attack scheduled output, not the PCC import (0)
    assert state[T_ATTACK].reference_kw == LOAD
    assert state[T_ATTACK].measured_kw == LOAD + ATTACK_KW
    assert state[T_ATTACK].scheduled_kw == LOAD  # the 123 kW re-evaluations are ignored
    # Delta = scheduled - measured output < 0: alpha and beta fall, xi rises
    assert state[T_ATTACK].delta_kw == -ATTACK_KW
    first = next(out.update for t, _, out in trace if out.update is not None)
    assert all(c.alpha < 1 and c.beta < 1 for c in first.agents)
    assert first.xi > 1
    # trusted SMOs (still reporting) are re-weighted more than the silent, attacked one
    later = [out.update for t, _, out in trace if out.update is not None][-1]
    alpha = {c.agent: c.alpha for c in later.agents}
    assert alpha["d"] > max(alpha[s] for s in "abc")


def test_mitigation_brings_the_output_back_towards_its_pre_attack_schedule():
    _, trace = simulate()
    out_at = {t: p for t, p, _ in trace}
    before = out_at[T_ATTACK - STEP]
    hit = out_at[T_ATTACK]
    assert hit - before == pytest.approx(ATTACK_KW)
    late = [p for t, p, _ in trace if T_ATTACK + 3 * PERIOD <= t < T_END]
    assert late and max(abs(p - before) for p in late) <= 0.02 * before
    assert all(out.state.mitigating for t, _, out in trace if T_ATTACK <= t < T_END)


def test_watching_the_pcc_of_an_island_sees_nothing():
    rm, trace = simulate(watch="pcc")
    assert not any(out.alerts for _, _, out in trace)
    assert rm.detector.detection_time is None
    # the unit's output stays raised by the attack without mitigation
    assert {p for t, p, _ in trace if T_ATTACK <= t < T_END} == {LOAD + ATTACK_KW}


def test_config_defaults_to_the_grid_state_and_rejects_the_pcc_vector():
    cfg = ResilienceConfig(watch="grid_forming")
    assert (cfg.pcc_type, cfg.pcc_key) == ("state", "grid/state")
    ctx = ScenarioContext(scenario="s", feeder="ieee123", seed=1, duration_s=600,
                          period_s=60, federates={"dss": "grid", "mk": "market",
                                                  "rm": "resilience"}, output_dir=".")
    wired = ResilienceFederate.autowire("rm", cfg, ctx)
    assert wired.pcc_key == "dss/state" and wired.schedule_key == "mk/pcc_schedule"
    again = ResilienceConfig.model_validate(wired.model_dump())  # compiled config round trip
    assert (again.pcc_type, again.pcc_key) == ("state", "dss/state")
    with pytest.raises(ValidationError, match="pcc_type: must be 'state'"):
        ResilienceConfig(watch="grid_forming", pcc_type="vector")
    assert ResilienceConfig().pcc_type == "vector"  # grid-connected default unchanged


class _IO:
    """The part of StepIO the manager's wrapper reads."""

    def __init__(self, values: dict):
        self.values = values

    def updated(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, model):
        raw = self.values.get(key)
        return None if raw is None else model.from_wire(raw)

    def get_raw(self, key: str):
        return self.values.get(key)

    def receive_from(self, port: str, *models):
        return []


def test_wrapper_reads_the_grid_forming_output_from_the_grid_state():
    state = GridState(time=0, converged=True, pcc_p_kw=0.0, pcc_q_kvar=0.0, losses_kw=5,
                      losses_kvar=2, v_min_pu=1, v_max_pu=1, ansi_a_violations=0,
                      ansi_b_violations=0, node_names=[], v_pu=[], line_names=[],
                      line_loading_pct=[], tap_names=[], taps=[], island_p_kw=812.5)
    sched = PccSchedule(time=0, period_start=0, period_end=300, p_kw=0, q_kvar=0,
                        grid_forming_p_kw=800.0)
    for watch, expected in (("grid_forming", 812.5), ("pcc", 0.0)):
        cfg = ResilienceConfig(watch=watch, pcc_type="state", pcc_key="grid/state")
        fed = ResilienceFederate(RuntimeConfig(name="rm"), cfg)
        fed.on_start(None)
        fed._read_inputs(_IO({"grid/state": state.to_wire(),
                              "market/pcc_schedule": sched.to_wire()}))
        assert fed.measured_kw == expected
        assert fed.manager.scheduled_kw(fed.manager.schedules[-1]) == (
            800.0 if watch == "grid_forming" else 0.0)


REPO = Path(__file__).resolve().parents[3]
ATTACK_3 = REPO / "scenarios" / "attack_3.yaml"


def compile_attack_3(tmp_path: Path, *overrides: str):
    return compile_scenario(load_scenario(ATTACK_3, list(overrides)), tmp_path, 23500, "k",
                            "b")


def test_shipped_attack_3_runs_islanded_with_a_matching_market_and_manager(tmp_path):
    plan = compile_attack_3(tmp_path)
    feds = {f.name: f for f in plan.federates}
    island = feds["grid"].config.island
    primary = feds["market"].config.primary
    assert island.enabled and primary.islanded
    assert primary.grid_forming.bus == island.former_bus == "150r"
    assert primary.grid_forming.v_pu == island.v_pu
    rm = feds["rm"].config
    assert (rm.watch, rm.pcc_type, rm.pcc_key) == ("grid_forming", "state", "grid/state")
    assert "grid/state" in {s.key for s in feds["rm"].interfaces.subscriptions}


@pytest.mark.parametrize(("override", "field"), [
    ("market.primary.islanded=false", "federates.market.config.primary.islanded"),
    ("market.primary.grid_forming.bus=67", "federates.market.config.primary.grid_forming.bus"),
    ("market.primary.grid_forming.v_pu=1.0",
     "federates.market.config.primary.grid_forming.v_pu"),
    ("rm.watch=pcc", "federates.rm.config.watch"),
    ("grid.island.enabled=false", "federates.market.config.primary.islanded"),
])
def test_an_inconsistent_island_is_rejected_naming_the_field(tmp_path, override, field):
    with pytest.raises(ScenarioError, match=re.escape(field)):
        compile_attack_3(tmp_path, override)
