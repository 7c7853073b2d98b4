"""Bids never promise more than the devices can deliver; setpoints and attacks."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from federates.common.weather import builtin
from federates.iot.agents import Coordinator
from federates.iot.flex import Range, split, waterfill
from federates.iot.model import PopulationModel
from federates.iot.population import build
from federates.iot.spec import PopulationSpec
from federates.messages import AttackCommand, Setpoint

LOADS = pd.DataFrame({"bus": ["1", "2", "3"], "nodes": ["1", "2", "1.2.3"],
                      "kw": [60.0, 40.0, 150.0], "kvar": [30.0, 20.0, 90.0]})
DT = 60.0


def _coordinator(hour: float, weather: str = "summer", seed: int = 4) -> Coordinator:
    spec = PopulationSpec.model_validate({
        "houses": 45, "waterheater": {"share": 0.5}, "pv": {"share": 0.4},
        "battery": {"share": 0.3}, "ev": {"share": 0.4, "v2g_share": 0.5}})
    pop = build(spec, LOADS, seed=seed)
    m = PopulationModel(pop, builtin(weather), start_time=(hour - 2) * 3600)
    for k in range(120):  # two hours of local control
        m.step((hour - 2) * 3600 + k * DT, DT)
    return Coordinator(m, DT, 300.0)


def _check_limits(c: Coordinator, t0: float, feasible_hvac, feasible_wh) -> None:
    m, p, f = c.model, c.model.pop, c.flex
    sp = np.where(f.cooling, p.cool_sp, p.heat_sp)
    for k in range(5):
        res = m.step(t0 + k * DT, DT)
        tol = 1e-7
        hv = feasible_hvac
        assert np.all(m.ta[hv] <= sp[hv] + p.comfort_band[hv] + tol)
        assert np.all(m.ta[hv] >= sp[hv] - p.comfort_band[hv] - tol)
        w = feasible_wh
        assert np.all(m.wh_temp[w] <= p.tank.t_max_c[w] + tol)
        assert np.all(m.wh_temp[w] >= p.tank.t_min_c[w] - tol)
        soc = m.bat_e / p.battery.capacity_kwh
        assert np.all(soc >= p.battery.soc_min - tol) and np.all(soc <= p.battery.soc_max + tol)
        assert np.all(np.abs(res.bat_kw) <= p.battery.p_rated_kw + tol)
        assert np.all(np.abs(res.ev_kw) <= p.ev.charger_kw + tol)
        assert np.all(res.wh_kw <= p.tank.element_kw + tol) and np.all(res.wh_kw >= 0)
        assert np.all(res.hvac_kw >= 0)
        assert np.all(-res.pv_kw <= p.pv.s_rated_kva + tol)


@pytest.mark.parametrize(("hour", "weather"), [(15.0, "summer"), (20.0, "summer"),
                                               (7.0, "winter")])
def test_any_dispatch_in_the_bid_range_keeps_devices_within_limits(hour, weather):
    c0 = _coordinator(hour, weather)
    t0 = hour * 3600
    bids = c0.bids(t0, t0)
    f = c0.flex
    assert f.hvac.feasible.mean() > 0.8  # most houses start inside their comfort band
    assert len(bids) == 3 and all(b.p_min_kw <= b.p0_kw <= b.p_max_kw for b in bids)
    rng = np.random.default_rng(0)
    for trial in range(6):
        c = copy.deepcopy(c0)
        x = {0: 0.0, 1: 1.0}.get(trial, None)  # both ends, then random interior points
        targets = []
        for b in bids:
            frac = rng.random() if x is None else x
            targets.append(b.p_min_kw + frac * (b.p_max_kw - b.p_min_kw))
            assert c.apply_setpoint(Setpoint(time=t0, smo=b.smo, period_start=t0,
                                             period_end=t0 + 300, p_kw=targets[-1], q_kvar=0.0))
        scheduled = [c.scheduled[c.model.pop.smo_index == s].sum() for s in range(3)]
        np.testing.assert_allclose(scheduled, targets, atol=1e-6)
        _check_limits(c, t0, f.hvac.feasible, f.wh.feasible)


def test_agent_level_dispatch_random_points_within_limits():
    c0 = _coordinator(17.0)
    t0 = 17 * 3600.0
    bids = c0.bids(t0, t0)
    rng = np.random.default_rng(1)
    c = copy.deepcopy(c0)
    for b in bids:
        p_kw = [rng.uniform(lo, hi) for lo, hi in
                zip(b.agent_p_min_kw, b.agent_p_max_kw, strict=True)]
        c.apply_setpoint(Setpoint(time=t0, smo=b.smo, period_start=t0, period_end=t0 + 300,
                                  p_kw=0.0, q_kvar=0.0, agents=b.agents, agent_p_kw=p_kw,
                                  agent_q_kvar=[0.0] * len(p_kw)))
        got = c.scheduled[c.model.pop.smo_index == c.model.pop.smos.index(b.smo)]
        np.testing.assert_allclose(got, p_kw)
    _check_limits(c, t0, c0.flex.hvac.feasible, c0.flex.wh.feasible)


def test_dispatch_is_tracked_and_reported():
    c = _coordinator(15.0)
    t0 = 15 * 3600.0
    bids = c.bids(t0, t0)
    b = max(bids, key=lambda b: b.p_max_kw - b.p_min_kw)
    target = b.p_min_kw + 0.25 * (b.p_max_kw - b.p_min_kw)
    c.apply_setpoint(Setpoint(time=t0, smo=b.smo, period_start=t0, period_end=t0 + 300,
                              p_kw=target, q_kvar=0.0))
    res = c.model.step(t0, DT)
    responses = c.after_step(res)
    assert [r.smo for r in responses] == [b.smo]
    r = responses[0]
    assert r.scheduled_kw == pytest.approx(target)
    # plug loads drift inside the period; flexible devices deliver their share exactly
    assert abs(r.achieved_kw - target) < 0.05 * (b.p_max_kw - b.p_min_kw) + 1.0
    for k in range(1, 6):
        c.after_step(c.model.step(t0 + k * DT, DT))
    assert not c.model.dispatched(t0 + 300).any()  # back to local control after the period
    tel = c.telemetry(t0 + 360)
    assert {t.smo for t in tel} == {"1", "2", "3"}
    assert all(0 <= a <= 1 for t in tel for a in t.anomaly)


def test_response_columns_average_the_steps_since_the_last_response():
    """With a response period, each agent's columns are the means over its dispatched steps
    since the previous Response, while the SMO totals are the sending step's."""
    c = _coordinator(15.0)
    t0 = 15 * 3600.0
    bids = c.bids(t0, t0)
    b = max(bids, key=lambda b: b.p_max_kw - b.p_min_kw)
    c.apply_setpoint(Setpoint(time=t0, smo=b.smo, period_start=t0, period_end=t0 + 300,
                              p_kw=b.p_min_kw, q_kvar=0.0))
    house = c.model.pop.smo_index == c.model.pop.smos.index(b.smo)
    kw, sched = [], []
    for k in range(3):
        res = c.model.step(t0 + k * DT, DT)
        kw.append(res.house_kw[house].copy())
        sched.append(c.scheduled[house].copy())
        out = c.response_dicts(res, emit=(k == 2))
        assert (out == []) == (k < 2)
    (r,) = out
    names = [c._names[i] for i in np.flatnonzero(house)]
    assert r["agents"] == names
    np.testing.assert_allclose(r["agent_achieved_kw"], np.mean(kw, axis=0))
    np.testing.assert_allclose(r["agent_scheduled_kw"], np.mean(sched, axis=0))
    assert r["achieved_kw"] == pytest.approx(kw[-1].sum())  # totals: the last step's
    assert np.ptp(np.array(kw), axis=0).max() > 0  # the average is not one step's value
    # the next period starts from zero
    res = c.model.step(t0 + 3 * DT, DT)
    (r2,) = c.response_dicts(res)
    np.testing.assert_allclose(r2["agent_achieved_kw"], res.house_kw[house])


def test_missed_setpoints_are_counted():
    c = _coordinator(15.0)
    t0 = 15 * 3600.0
    c.bids(t0, t0)
    for k in range(6):
        c.after_step(c.model.step(t0 + k * DT, DT))
    tel = c.telemetry(t0 + 360)
    assert all(t.messages_missed == [1] * len(t.agents) for t in tel)


def test_waterfill_and_split_respect_caps_and_weights():
    x = waterfill(6.0, np.array([1.0, 10.0, 10.0]), np.array([1.0, 1.0, 2.0]))
    assert x.sum() == pytest.approx(6.0)
    assert x[0] == pytest.approx(1.0) and x[2] == pytest.approx(2 * x[1])
    r = Range(np.array([1.0, 2.0]), np.array([0.0, 0.0]), np.array([3.0, 2.5]))
    out = split(10.0, r, np.ones(2))  # beyond the range: everybody at its max
    np.testing.assert_allclose(out, [3.0, 2.5])
    out = split(1.0, r, np.array([1.0, 0.2]))  # trusted agents carry more
    assert out.sum() == pytest.approx(1.0)
    assert np.all(out >= r.lo - 1e-12) and np.all(out <= r.hi + 1e-12)


def test_load_alteration_attack_forces_devices_and_ignores_setpoints_then_rebounds():
    c = _coordinator(15.0)
    m, p = c.model, c.model.pop
    t0 = 15 * 3600.0
    c.after_step(m.step(t0, DT))
    before = c.last.house_kw[p.smo_index == 2].sum()
    c.on_attack(AttackCommand(time=t0, attack_id="a1", action="start", type="LA", buses=["3"]))
    bids = c.bids(t0 + DT, t0)
    c.apply_setpoint(Setpoint(time=t0, smo="3", period_start=t0 + DT, period_end=t0 + 360,
                              p_kw=bids[2].p_min_kw, q_kvar=0.0))
    assert not m.dispatched(t0 + DT)[p.smo_index == 2].any()
    res = m.step(t0 + DT, DT)
    on3 = p.smo_index == 2
    assert np.all(res.hvac_kw[on3] > 0)  # forced on in spite of the setpoint
    assert res.house_kw[on3].sum() > before
    assert p.compromised[on3].all()
    for k in range(2, 30):
        m.step(t0 + k * DT, DT)
    cold = m.ta[on3].mean()
    c.telemetry(t0 + 30 * DT)  # reset the window
    for k in range(30, 35):  # telemetry sees the forced, overcooling HVACs as anomalous
        c.after_step(m.step(t0 + k * DT, DT))
    tel = {x.smo: np.mean(x.anomaly) for x in c.telemetry(t0 + 35 * DT)}
    assert tel["3"] > 0.5 > max(tel["1"], tel["2"])
    c.on_attack(AttackCommand(time=t0, attack_id="a1", action="stop", type="LA", buses=["3"]))
    assert not m.attacked().any()
    res = m.step(t0 + 35 * DT, DT)
    assert cold < p.cool_sp[on3].mean()  # overcooled during the attack ...
    assert res.hvac_kw[on3].mean() < 0.5 * p.house.hvac.cool_cap_kw[on3].mean()  # ... rebound


def test_scaled_and_dg_attacks_pick_targets():
    c = _coordinator(13.0)
    m, p = c.model, c.model.pop
    t0 = 13 * 3600.0
    c.after_step(m.step(t0, DT))
    c.on_attack(AttackCommand(time=t0, attack_id="s", action="start", type="LA", buses=["3"],
                              scale_kw=10.0))
    n_forced = int((m.force > 0).sum())
    assert 1 <= n_forced < (p.smo_index == 2).sum()
    c.on_attack(AttackCommand(time=t0, attack_id="dg", action="start", type="DG",
                              agents=[str(p.agents[p.pv_house[0]])]))
    res = m.step(t0 + DT, DT)
    assert res.pv_kw[0] == 0.0
    c.on_attack(AttackCommand(time=t0, attack_id="dg", action="stop", type="DG"))
    assert (m.force > 0).sum() == n_forced and not m.dg_off.any()
    c.on_attack(AttackCommand(time=t0, attack_id="sh", action="start", type="LA", buses=["1"],
                              setpoint_shift_c=-3.0))
    # the DG attack flagged that agent compromised: on bus 1 only flagged agents are taken
    flagged = (p.smo_index == 0) & p.compromised
    assert flagged.sum() == 1
    np.testing.assert_array_equal(m.sp_offset == -3.0, flagged)


def test_reactive_setpoints_are_delivered_by_the_inverters():
    c = _coordinator(12.0)
    m, p = c.model, c.model.pop
    t0 = 12 * 3600.0
    bids = c.bids(t0, t0)
    for b, x in zip(bids, (0.0, 0.8, 1.0), strict=True):
        assert b.q_min_kvar <= b.q0_kvar <= b.q_max_kvar
        q = b.q_min_kvar + x * (b.q_max_kvar - b.q_min_kvar)
        c.apply_setpoint(Setpoint(time=t0, smo=b.smo, period_start=t0, period_end=t0 + 300,
                                  p_kw=b.p0_kw, q_kvar=q))
    res = m.step(t0, DT)
    for s, (b, x) in enumerate(zip(bids, (0.0, 0.8, 1.0), strict=True)):
        q = b.q_min_kvar + x * (b.q_max_kvar - b.q_min_kvar)
        got = res.house_kvar[p.smo_index == s].sum()
        assert got == pytest.approx(q, abs=0.02 * (b.q_max_kvar - b.q_min_kvar) + 0.5)
    s_pv = np.hypot(res.pv_kw, res.pv_kvar)
    assert np.all(s_pv <= p.pv.s_rated_kva + 1e-9)
    assert np.all(np.hypot(res.bat_kw, res.bat_kvar) <= p.battery.p_rated_kw + 1e-9)


@pytest.mark.parametrize(("hour", "weather"), [(14.0, "summer"), (6.0, "winter")])
def test_extreme_dispatch_period_after_period_keeps_comfort(hour, weather):
    """A market that always picks a range end (the hardest case) for two hours."""
    c = _coordinator(hour, weather)
    m = c.model
    t0 = hour * 3600
    assert not m.comfort_violations().any()
    for period in range(24):
        t = t0 + period * 300.0
        for b in c.bids(t, t):
            c.apply_setpoint(Setpoint(time=t, smo=b.smo, period_start=t, period_end=t + 300,
                                      p_kw=b.p_min_kw if period % 3 else b.p_max_kw,
                                      q_kvar=b.q0_kvar))
        for k in range(5):
            m.step(t + k * DT, DT)
            assert not m.comfort_violations().any()
            tank = m.pop.tank
            assert np.all((m.wh_temp >= tank.t_min_c) & (m.wh_temp <= tank.t_max_c))


def test_dg_attack_takes_generation_offline_and_keeps_charging_load():
    c = _coordinator(12.0)
    m, p = c.model, c.model.pop
    t0 = 12 * 3600.0
    soc = m.bat_e / p.battery.capacity_kwh
    charge, discharge = int(np.argmin(soc)), int(np.argmax(soc))
    # two batteries follow a market setpoint: one charging, one discharging
    m.disp_bat[[charge, discharge]] = [2.0, -2.0]
    m.disp_until[p.bat_house[[charge, discharge]]] = t0 + 600
    before = m.step(t0, DT)
    c.after_step(before)
    assert before.bat_kw[charge] > 1.0 and before.bat_kw[discharge] < -1.0
    houses = p.bat_house[[charge, discharge]]
    c.on_attack(AttackCommand(time=t0, attack_id="dg", action="start", type="DG",
                              agents=[str(p.agents[h]) for h in houses]))
    assert m.dispatched(t0 + DT)[houses].all()  # their loads still follow the market
    after = m.step(t0 + DT, DT)
    assert after.bat_kw[charge] == pytest.approx(before.bat_kw[charge], rel=1e-6)  # held
    assert after.bat_kw[discharge] == 0.0  # discharge is generation: lost
    pv = np.isin(p.pv_house, houses)
    assert np.all(after.pv_kw[pv] == 0.0) and np.all(after.pv_kvar[pv] == 0.0)
    # the change of the houses' generating devices is the generation lost, nothing else
    def gen_net(res):
        return res.pv_kw[pv].sum() + res.bat_kw[[charge, discharge]].sum()
    lost = -before.pv_kw[pv].sum() - before.bat_kw[discharge]
    assert gen_net(after) - gen_net(before) == pytest.approx(lost, rel=0.02)
    c.on_attack(AttackCommand(time=t0, attack_id="dg", action="stop", type="DG"))
    assert not m.dg_off.any() and not m.dg_bat_hold.any()


def test_scaled_dg_attack_takes_houses_until_the_generation_lost_reaches_the_scale():
    c = _coordinator(12.0)
    m, p = c.model, c.model.pop
    t0 = 12 * 3600.0
    c.after_step(m.step(t0, DT))
    last = c.last
    gen = np.zeros(p.n_houses)
    np.add.at(gen, p.pv_house, -last.pv_kw)
    np.add.at(gen, p.bat_house, np.maximum(-last.bat_kw, 0.0))
    scale = 0.5 * gen.sum()
    c.on_attack(AttackCommand(time=t0, attack_id="dg", action="start", type="DG",
                              buses=["1", "2", "3"], scale_kw=scale))
    taken = np.sort(gen[m.dg_off])[::-1]
    assert taken.sum() >= scale > taken[:-1].sum()  # the largest generators, just enough
