"""Water heater, PV, battery and EV models: physics and limits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from federates.common.weather import builtin, from_csv
from federates.iot import battery as bat
from federates.iot import ev as evm
from federates.iot import waterheater as wh
from federates.iot.pv import PvParams, available_kw, pv_output


def test_tank_step_matches_numerical_integration():
    tank = wh.draw_tanks(np.random.default_rng(3), 5)
    temp = tank.setpoint_c - 4.0
    x = temp.copy()
    rng = np.random.default_rng(4)
    for k in range(10):
        q = rng.choice([0.0, 1.0], 5) * tank.element_kw
        mdot = wh.draw_rate_kw_k(tank, 3600.0 * 7 + 300.0 * k)
        temp = wh.tank_step(tank, temp, q, mdot, 300.0)
        for i in range(5):
            def f(_t, y, i=i, q=q, mdot=mdot):
                return [(-tank.ua_kw_k[i] * (y[0] - tank.ambient_c)
                         - mdot[i] * (y[0] - tank.inlet_c) + q[i]) / tank.capacity_kj_k[i]]
            x[i] = solve_ivp(f, (0, 300.0), [x[i]], rtol=1e-11, atol=1e-11).y[0, -1]
    np.testing.assert_allclose(temp, x, atol=1e-7)
    a, b = wh.tank_affine(tank, temp, mdot, 60.0)
    np.testing.assert_allclose(a + b * 2.0, wh.tank_step(tank, temp, np.full(5, 2.0), mdot, 60.0))


def test_daily_draw_volume():
    tank = wh.draw_tanks(np.random.default_rng(5), 20)
    t = np.arange(0, 86400, 60.0)
    litres = sum(wh.draw_rate_kw_k(tank, tt) for tt in t) * 60.0 / wh.WATER_KJ_PER_L_K
    np.testing.assert_allclose(litres, tank.daily_draw_l, rtol=0.02)


def _pv(n=3, **kw):
    s = np.array([4.0, 5.0, 6.0])[:n]
    return PvParams(s_rated_kva=s, dc_kw=1.3 * s, derate=np.full(n, 0.9), **kw)


def test_pv_clipping_and_curtailment():
    pv = _pv()
    avail = available_kw(pv, 1000.0, 10.0)
    np.testing.assert_allclose(avail, pv.s_rated_kva)  # DC/AC 1.3 x 0.9 clips at the rating
    assert np.all(available_kw(pv, 0.0, 20.0) == 0.0)
    p, q = pv_output(pv, avail, np.array([np.inf, 2.0, 0.0]))
    np.testing.assert_allclose(p, [-4.0, -2.0, 0.0])
    np.testing.assert_allclose(q, 0.0)


def test_pv_fixed_pf_and_volt_var_respect_rating():
    pv = _pv(pf=0.9)
    avail = np.array([2.0, 5.0, 6.0])
    p, q = pv_output(pv, avail, np.full(3, np.inf))
    assert np.all(q >= 0)  # absorbing vars = load convention positive
    assert np.all(np.hypot(p, q) <= pv.s_rated_kva + 1e-9)
    np.testing.assert_allclose(q[0], 2.0 * np.tan(np.arccos(0.9)))
    vv = _pv(volt_var=True)
    p, q = pv_output(vv, np.array([1.0, 1.0, 1.0]), np.full(3, np.inf),
                     v_pu=np.array([0.90, 1.00, 1.10]))
    assert q[0] < 0 and q[1] == 0 and q[2] > 0  # inject at low V, absorb at high V
    np.testing.assert_allclose(np.abs(q[[0, 2]]), 0.44 * vv.s_rated_kva[[0, 2]])


def _batteries(n=50):
    return bat.draw_batteries(np.random.default_rng(6), np.full(n, 5.0))


def test_battery_energy_balance_and_limits():
    b = _batteries()
    rng = np.random.default_rng(7)
    e = 0.5 * b.capacity_kwh
    e0 = e.copy()
    charged = np.zeros_like(e)
    discharged = np.zeros_like(e)
    lost = np.zeros_like(e)
    dt = 300.0
    for _ in range(300):
        cmd = rng.uniform(-8, 8, len(e))
        before = e.copy()
        p, e = bat.battery_step(b, e, cmd, dt)
        assert np.all(np.abs(p) <= b.p_rated_kw + 1e-12)
        assert np.all(e >= b.soc_min * b.capacity_kwh - 1e-9)
        assert np.all(e <= b.soc_max * b.capacity_kwh + 1e-9)
        charged += b.eta_c * np.maximum(p, 0) * dt / 3600
        discharged += np.minimum(p, 0) / b.eta_d * dt / 3600
        lost += (before - b.soc_min * b.capacity_kwh) * b.self_discharge_per_h * dt / 3600
    np.testing.assert_allclose(e - e0, charged + discharged - lost, atol=1e-9)


def test_battery_never_charges_and_discharges_at_once():
    """One signed power per unit: grid-side charge and discharge never coexist in a step."""
    b = _batteries(20)
    e = np.linspace(0.1, 0.95, 20) * b.capacity_kwh
    p, e2 = bat.battery_step(b, e, np.random.default_rng(8).uniform(-6, 6, 20), 60.0)
    charge, discharge = np.maximum(p, 0), np.maximum(-p, 0)
    assert np.all(charge * discharge == 0)
    lo, hi = bat.power_limits(b, e, 60.0)
    assert np.all(lo <= 0) and np.all(hi >= 0)
    assert hi[-1] < 1e-3 and lo[0] == 0.0  # full cannot charge, empty cannot discharge


@pytest.mark.parametrize("mode", ["uncontrolled", "min", "random_v2g"])
def test_ev_reaches_target_soc_by_departure(mode):
    rng = np.random.default_rng(9)
    p = evm.draw_evs(rng, 200, v2g_share=1.0 if mode == "random_v2g" else 0.0)
    dt = 60.0
    t0 = 12 * 3600.0
    soc = p.soc_arrival.copy()
    done = np.zeros(200, bool)
    reached = np.zeros(200)
    for k in range(int(24 * 3600 / dt)):
        t = t0 + k * dt
        lo, hi = evm.power_limits(p, soc, t, dt)
        cmd = {"uncontrolled": evm.uncontrolled_kw(p, soc, t, dt), "min": lo,
               "random_v2g": rng.uniform(lo, hi)}[mode]
        pw, soc = evm.ev_step(p, soc, cmd, t, dt)
        assert np.all(np.abs(pw) <= p.charger_kw + 1e-12)
        assert np.all(soc <= 1.0 + 1e-12) and np.all(soc >= p.soc_min - 1e-9)
        leaving = evm.connected(p, t) & ~evm.connected(p, t + dt) & ~done
        reached[leaving] = soc[leaving]
        done |= leaving
    assert done.all()
    assert np.all(reached >= p.soc_target - 1e-9)


def test_weather_builtin_and_csv(tmp_path):
    s, w = builtin("summer"), builtin("winter")
    ts, gs = s.at(np.arange(0, 86400, 600.0))
    assert 21.9 < ts.min() < 23 and 35 < ts.max() <= 36.0
    assert gs.min() == 0.0 and 900 < gs.max() <= 950
    assert w.at(14.5 * 3600)[0] > w.at(3 * 3600)[0]
    np.testing.assert_allclose(s.at(3600.0)[0], s.at(3600.0 + 86400.0)[0])
    f = tmp_path / "w.csv"
    f.write_text("hour,temp_c,ghi_w_m2\n0,10,0\n12,20,800\n")
    c = from_csv(f)
    assert c.at(6 * 3600)[0] == pytest.approx(15.0)
    assert c.at(18 * 3600)[0] == pytest.approx(15.0)  # wraps to midnight
