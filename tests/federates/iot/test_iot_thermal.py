"""ETP house model: closed form vs the analytic two-node solution and vs solve_ivp."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from federates.iot import thermal as th
from federates.iot.house_params import THERMAL_INTEGRITY, draw_houses


@pytest.fixture(scope="module")
def houses():
    rng = np.random.default_rng(11)
    shares = {k: 1.0 for k in THERMAL_INTEGRITY}
    return draw_houses(rng, 50, shares)


def _rhs(p: th.EtpParams, i: int, to: float, qa: float, qm: float):
    def f(_t, x):
        ta, tm = x
        return [(p.ua[i] * (to - ta) + p.hm[i] * (tm - ta) + qa) / p.ca[i],
                (p.hm[i] * (ta - tm) + qm) / p.cm[i]]
    return f


def _gld_analytic(p: th.EtpParams, ta0, tm0, to, qa, qm, t):
    """GridLAB-D house_e form: Ta = c1 e^{r1 t} + c2 e^{r2 t} + Ta_ss, Tm from the ODE."""
    a = p.cm * p.ca / p.hm
    b = p.cm * (p.ua + p.hm) / p.hm + p.ca
    c = p.ua
    disc = np.sqrt(b * b - 4 * a * c)
    r1, r2 = (-b + disc) / (2 * a), (-b - disc) / (2 * a)
    ta_ss = to + (qa + qm) / p.ua
    dta0 = (p.ua * (to - ta0) + p.hm * (tm0 - ta0) + qa) / p.ca
    c2 = (r1 * (ta0 - ta_ss) - dta0) / (r1 - r2)
    c1 = ta0 - ta_ss - c2
    ta = c1 * np.exp(r1 * t) + c2 * np.exp(r2 * t) + ta_ss
    dta = c1 * r1 * np.exp(r1 * t) + c2 * r2 * np.exp(r2 * t)
    tm = (p.ca * dta - p.ua * (to - ta) - qa) / p.hm + ta
    return ta, tm


@pytest.mark.parametrize("dt", [1.0, 60.0, 900.0, 7200.0])
def test_closed_form_matches_analytic_two_node_solution(houses, dt):
    p = houses.etp
    n = len(p.ua)
    rng = np.random.default_rng(1)
    ta0, tm0 = rng.uniform(18, 30, n), rng.uniform(18, 30, n)
    to, qa, qm = rng.uniform(-10, 40, n), rng.uniform(-12, 10, n), rng.uniform(0, 3, n)
    ta, tm = th.etp_step(p, th.propagator(p, dt), ta0, tm0, to, qa, qm)
    ta_ref, tm_ref = _gld_analytic(p, ta0, tm0, to, qa, qm, dt)
    np.testing.assert_allclose(ta, ta_ref, atol=1e-9, rtol=0)
    np.testing.assert_allclose(tm, tm_ref, atol=1e-9, rtol=0)


def test_closed_form_matches_fine_numerical_integration(houses):
    """Piecewise-constant inputs over 12 steps (HVAC on/off, changing weather)."""
    p = houses.etp
    rng = np.random.default_rng(2)
    dt = 300.0
    prop = th.propagator(p, dt)
    for i in range(0, len(p.ua), 7):
        ta, tm = np.array([26.0]), np.array([25.0])
        x = [26.0, 25.0]
        one = th.EtpParams(*(np.array([getattr(p, f)[i]]) for f in ("ua", "ca", "cm", "hm")))
        prop1 = th.EtpPropagator(dt, *(np.array([getattr(prop, f)[i]])
                                       for f in ("e11", "e12", "e21", "e22")))
        for _ in range(12):
            to, q_hvac = rng.uniform(20, 38), rng.choice([0.0, -9.0])
            # GridLAB-D house_e: half of the internal and half of the solar gains heat the
            # mass (mass_internal_gain_fraction = mass_solar_gain_fraction = 0.5)
            qa = np.array([q_hvac + 0.5 * 1.0 + 0.5 * 2.0])
            qm = np.array([0.5 * 1.0 + 0.5 * 2.0])
            ta, tm = th.etp_step(one, prop1, ta, tm, np.array([to]), qa, qm)
            sol = solve_ivp(_rhs(p, i, to, qa[0], qm[0]), (0, dt), x, method="Radau",
                            rtol=1e-11, atol=1e-11)
            x = sol.y[:, -1]
        np.testing.assert_allclose([ta[0], tm[0]], x, atol=1e-7)


def test_steady_state_balances_the_heat_flows(houses):
    """At steady state the envelope carries every gain out, and the mass exchanges only its
    own gain with the air: Ta = To + (Qa + Qm)/UA, Tm = Ta + Qm/Hm (both ODEs at rest)."""
    p = houses.etp
    n = len(p.ua)
    to, qa, qm = np.full(n, 30.0), np.full(n, -3.0), np.full(n, 1.0)
    ta_ss, tm_ss = th.steady_state(p, to, qa, qm)
    np.testing.assert_allclose(ta_ss, to + (qa + qm) / p.ua, rtol=1e-12)
    np.testing.assert_allclose(tm_ss, ta_ss + qm / p.hm, rtol=1e-12)
    for i in range(0, n, 7):
        rates = _rhs(p, i, to[i], qa[i], qm[i])(0.0, [ta_ss[i], tm_ss[i]])
        np.testing.assert_allclose(rates, 0.0, atol=1e-12)
    ta, tm = th.etp_step(p, th.propagator(p, 600.0), ta_ss, tm_ss, to, qa, qm)
    np.testing.assert_allclose(ta, ta_ss, atol=1e-10)
    np.testing.assert_allclose(tm, tm_ss, atol=1e-10)


def test_gains_split_as_gridlabd_documents():
    """house_e: mass_internal_gain_fraction = mass_solar_gain_fraction = 0.5; HVAC heats the
    air only. Written out here, not taken from the module's constants."""
    rng = np.random.default_rng(4)
    q_hvac, q_int, q_sol = rng.uniform(-9, 9, 20), rng.uniform(0, 2, 20), rng.uniform(0, 4, 20)
    qa, qm = th.split_gains(q_hvac, q_int, q_sol)
    np.testing.assert_allclose(qa, q_hvac + 0.5 * q_int + 0.5 * q_sol, rtol=1e-14)
    np.testing.assert_allclose(qm, 0.5 * q_int + 0.5 * q_sol, rtol=1e-14)


def test_eigenvalues_real_negative_and_propagator_at_zero_is_identity(houses):
    r1, r2 = th.eigenvalues(houses.etp)
    assert np.all(r2 < r1) and np.all(r1 < 0)
    prop = th.propagator(houses.etp, 0.0)
    np.testing.assert_allclose(prop.e11, 1.0)
    np.testing.assert_allclose(prop.e22, 1.0)
    np.testing.assert_allclose(prop.e12, 0.0, atol=1e-15)


def test_hvac_curves_are_normalised_at_rating_points():
    assert th.cooling_capacity_factor((95 - 32) / 1.8) == pytest.approx(1.0, abs=1e-6)
    assert th.cooling_cop_factor((95 - 32) / 1.8) == pytest.approx(1.0, abs=1e-6)
    assert th.heating_capacity_factor((47 - 32) / 1.8) == pytest.approx(1.0, abs=1e-3)
    assert th.heating_cop_factor((47 - 32) / 1.8) == pytest.approx(1.0, abs=1e-3)
    # hotter outside -> less capacity and lower COP
    assert th.cooling_capacity_factor(40.0) < 1.0 and th.cooling_cop_factor(40.0) < 1.0


def test_hvac_sized_to_hold_setpoint_at_design_conditions(houses):
    """Full cooling at 95 degF with design gains keeps the house below 75 degF."""
    p, h = houses.etp, houses.hvac
    to = (95 - 32) / 1.8
    lim = th.hvac_limits(h, to)
    q_solar = 195 * 2.9307107e-4 / 0.09290304 * houses.solar_factor_m2
    qa, qm = th.split_gains(-lim.cool_q_kw, houses.design_internal_kw, q_solar)
    ta_ss, _ = th.steady_state(p, np.full(len(p.ua), to), qa, qm)
    assert np.all(ta_ss <= (75 - 32) / 1.8 + 1e-9)
    units = h.cool_cap_kw / 2.9307107e-4 / 6000.0  # rounded up to 6,000 Btu/h
    np.testing.assert_allclose(units, np.round(units), atol=1e-9)


def test_thermostat_hysteresis():
    sp, db = np.full(4, 24.0), np.full(4, 1.0)
    ta = np.array([24.6, 23.4, 24.0, 24.0])
    was = np.array([False, True, True, False])
    cool, heat = th.thermostat(ta, was, np.zeros(4, bool), sp, sp - 4, db)
    assert cool.tolist() == [True, False, True, False]
    assert not heat.any()
