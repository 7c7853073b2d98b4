"""Resilience manager in closed loop with a toy market and feeder (no HELICS).

Toy plant: four SMOs with 60 kW spare generation each; the market clears every 15 min and
plans import P0 - sum_i G_i (1 - f_i), with f_i the alpha factor the manager sent (lower
cost coefficient -> more local generation). SMO 'd' is attacked at t = 30 min: it loses
100 kW of generation and its links are cut (no telemetry, ignores dispatch).
"""

import pytest

from federates.messages import PccSchedule, Response, Telemetry
from federates.resilience.config import ManagerConfig
from federates.resilience.detection import DetectionConfig
from federates.resilience.manager import ResilienceManager
from federates.resilience.reweighting import ReweightConfig

P0, G, ATTACK_KW = 1000.0, 60.0, 100.0
STEP, PERIOD = 60.0, 900.0
T_ATTACK, T_END = 1800.0, 7200.0
SMOS = ["a", "b", "c", "d"]


def simulate(mitigation: bool = True, stop: float = 9000.0, absorb: bool = False):
    """absorb: the market sees measured bus loads and folds the attack into its schedule."""
    cfg = ManagerConfig(mitigation=mitigation, telemetry_period_s=None, schedule_lag_steps=0,
                        end_on_schedule_match=not absorb,
                        detection=DetectionConfig(threshold_kw=10, threshold_pct=0,
                                                  confirm_steps=2, clear_steps=3),
                        reweighting=ReweightConfig(mu_kw=50.0))
    rm = ResilienceManager(cfg)
    factors = dict.fromkeys(SMOS, 1.0)
    dispatch: dict[str, float] = {}
    trace = []
    t = 0.0
    while t <= stop:
        attacked = T_ATTACK <= t < T_END
        if t % PERIOD == 0:  # market clears with the factors in force
            dispatch = {s: G * (1 - min(factors[s], 1.0)) for s in SMOS}
            seen = ATTACK_KW if absorb and T_ATTACK < t <= T_END else 0.0
            rm.add_schedule(PccSchedule(time=t, period_start=t, period_end=t + PERIOD,
                                        p_kw=P0 - sum(dispatch.values()) + seen, q_kvar=0))
        measured = P0 - sum(v for s, v in dispatch.items() if not (attacked and s == "d"))
        measured += ATTACK_KW if attacked else 0.0
        for s in SMOS:
            if attacked and s == "d":
                continue  # link cut: nothing arrives
            rm.add_telemetry(Telemetry(time=t, smo=s, agents=[f"{s}1"], response_error_kw=[0],
                                       anomaly=[0.0], messages_missed=[0]))
            rm.add_response(Response(time=t, smo=s, scheduled_kw=-dispatch[s],
                                     achieved_kw=-dispatch[s], agents=[f"{s}1"],
                                     agent_scheduled_kw=[0.0], agent_achieved_kw=[0.0]))
        out = rm.step(t, measured)
        if out.update is not None:
            factors.update({c.agent: c.alpha for c in out.update.agents})
        trace.append((t, measured, out))
        t += STEP
    return rm, trace


@pytest.mark.parametrize("absorb", [False, True])
def test_detects_scores_and_restores_import(absorb):
    rm, trace = simulate(absorb=absorb)
    alerts = [(t, a.kind) for t, _, out in trace for a in out.alerts]
    assert alerts[:2] == [(T_ATTACK + STEP, "attack_detected"),
                          (T_ATTACK + STEP, "mitigation_started")]
    assert rm.detector.onset_time == T_ATTACK
    # the attacked, silent SMO is the least resilient one and contributes least
    rs = {s.agent: s.resilience for t, _, out in trace if out.scores and t == T_END - STEP
          for s in out.scores.scores}
    assert rs["d"] < 0.05 < min(rs[s] for s in "abc")
    # import back within 2 % of pre-attack within three market periods after detection
    by_time = {t: m for t, m, _ in trace}
    restored = [t for t in sorted(by_time) if T_ATTACK < t < T_END
                and abs(by_time[t] - P0) <= 0.02 * P0]
    assert restored and restored[0] <= T_ATTACK + 3 * PERIOD + STEP
    assert all(abs(by_time[t] - P0) <= 0.02 * P0 for t in by_time if restored[0] <= t < T_END)
    states = {t: out.state for t, _, out in trace}
    assert states[T_ATTACK + 2 * PERIOD].reference_kw == P0
    assert states[T_ATTACK + 2 * PERIOD].xi_factor > 1
    assert states[T_ATTACK + 2 * PERIOD].agents_lost == 1


@pytest.mark.parametrize("absorb", [False, True])
def test_attack_end_clears_and_resets_coefficients(absorb):
    rm, trace = simulate(absorb=absorb)
    kinds = [a.kind for _, _, out in trace for a in out.alerts]
    assert kinds == ["attack_detected", "mitigation_started", "attack_cleared",
                     "mitigation_ended"]
    last = [out.update for _, _, out in trace if out.update is not None][-1]
    assert last.reason == "attack cleared" and last.xi == 1.0
    assert all(c.alpha == 1.0 and c.beta == 1.0 for c in last.agents)
    assert not rm.mitigating and trace[-1][2].state.xi_factor == 1.0


def test_without_mitigation_import_stays_raised():
    rm, trace = simulate(mitigation=False)
    assert all(out.update is None for _, _, out in trace)
    during = [m for t, m, _ in trace if T_ATTACK <= t < T_END]
    assert during == pytest.approx([P0 + ATTACK_KW] * len(during))
    assert rm.detector.detection_time == T_ATTACK + STEP


def test_one_update_per_market_period():
    _, trace = simulate()
    times = [t for t, _, out in trace if out.update is not None and t < T_END]
    assert times[0] == T_ATTACK + STEP
    periods = [int(t // PERIOD) for t in times]
    assert len(periods) == len(set(periods))


def test_periodic_telemetry_is_not_mistaken_for_loss():
    rm = ResilienceManager(ManagerConfig(telemetry_period_s=300.0))
    for k in range(60):
        t = 60.0 * k
        if t % 300 == 240:  # the device federate reports one step before each period
            for s in ("a", "b") if t < 1200 else ("a",):
                rm.add_telemetry(Telemetry(time=t, smo=s, agents=[], response_error_kw=[],
                                           anomaly=[], messages_missed=[]))
        rm.step(t, 1000.0)
    assert rm.smo_scores.trust["a"] == 1.0
    assert rm.smo_scores.trust["b"] == pytest.approx(0.7 ** 7)  # 7 silent periods


def test_warmup_and_one_step_schedule_lag():
    cfg = ManagerConfig(telemetry_period_s=None, warmup_s=600.0,
                        detection=DetectionConfig(threshold_kw=10, threshold_pct=0,
                                                  confirm_steps=1))
    rm = ResilienceManager(cfg)
    kinds = []
    for k in range(30):
        t = 60.0 * k
        if t % 300 == 0:  # a new schedule every 5 min, alternating 1000 / 1200 kW
            rm.add_schedule(PccSchedule(time=t, period_start=t, period_end=t + 300,
                                        p_kw=1000.0 + 200 * ((t // 300) % 2), q_kvar=0))
        # the devices follow the new schedule one step after the clearing
        in_force = 1000.0 + 200 * (((t - 60) // 300) % 2) if t >= 60 else 1000.0
        measured = in_force + (500.0 if t < 300 else 0.0)  # start-up transient
        kinds += [a.kind for a in rm.step(t, measured).alerts]
    assert kinds == []
    assert not rm.attack_active
