"""Consumer market (Stackelberg game, spec C): tests C1-C7."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import brentq

from federates.market import consumer as cm
from federates.market.consumer_flex import FlexParams, House, stage_one


def instance(rng: np.random.Generator, n: int = 3, room: float = 50.0):
    p0 = rng.uniform(-6.0, -2.0, n)  # net loads (injection convention)
    p_max = p0 + rng.uniform(0.5, 3.0, n) * room / 10
    gamma = rng.uniform(0.2, 1.0, n)
    return p0, p_max, gamma


def numeric_stage_three(p0, p_max, gamma, p_target, pi):
    """Stage III solved numerically: root of sum BR(s) = P~ on the followers' responses,
    then the budget fixes mu."""
    s = brentq(lambda s: cm.best_response(s, 0.0, p0, p_max, gamma).sum() - p_target,
               0.0, 1e3, xtol=1e-15, rtol=1e-15)
    total = cm.best_response(s, 0.0, p0, p_max, gamma).sum()
    mu = (pi * total - s * (total - p0.sum())) / p0.sum()
    return mu, s - mu


def test_c1_closed_form_equals_numerical_solve():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p0, p_max, gamma = instance(rng)
        p_target = p0.sum() + 0.3 * (p_max - p0).min()  # nobody saturates
        pi = rng.uniform(0.05, 0.3)
        res = cm.clear(p0, p_max, gamma, p_target, pi)
        assert res.closed_form
        mu, mu_dev = numeric_stage_three(p0, p_max, gamma, p_target, pi)
        assert res.mu == pytest.approx(mu, rel=1e-9)
        assert res.mu_dev == pytest.approx(mu_dev, rel=1e-9)
        assert res.p_kw.sum() == pytest.approx(p_target, rel=1e-12)
        assert abs(res.budget_residual) <= 1e-9
        # cvxpy: the leader's QP over (P, s) with the followers' interior best responses
        P, s = cp.Variable(3), cp.Variable()
        prob = cp.Problem(cp.Minimize(cp.square(cp.sum(P) - p_target)),
                          [P == p0 + s / (2 * gamma), P >= p0, P <= p_max])
        prob.solve(solver=cp.CLARABEL)
        assert s.value == pytest.approx(res.mu + res.mu_dev, rel=1e-6)
        # every follower's own QP at the posted prices returns the closed-form response
        for i in range(3):
            x = cp.Variable()
            cp.Problem(cp.Maximize(res.mu_dev * (x - p0[i]) + res.mu * x
                                   - gamma[i] * cp.square(x - p0[i])),
                       [x >= p0[i], x <= p_max[i]]).solve(solver=cp.CLARABEL)
            assert x.value == pytest.approx(res.p_kw[i], abs=1e-6)


def test_c2_best_response_is_the_grid_argmax():
    rng = np.random.default_rng(1)
    for _ in range(30):
        p0, p_max, gamma = instance(rng)
        mu, mu_dev = rng.uniform(-0.5, 3.0, 2)
        br = cm.best_response(mu, mu_dev, p0, p_max, gamma)
        for i in range(3):
            grid = np.linspace(p0[i], p_max[i], 10_000)
            u = cm.utility(grid, mu, mu_dev, p0[i], gamma[i])
            u_br = cm.utility(br[i], mu, mu_dev, p0[i], gamma[i])
            assert u_br >= u.max() - 1e-12
            assert abs(br[i] - grid[np.argmax(u)]) <= (p_max[i] - p0[i]) / 9_999 + 1e-12


def test_c3_no_profitable_deviation_and_leader_optimal():
    rng = np.random.default_rng(2)
    for _ in range(20):
        p0, p_max, gamma = instance(rng)
        p_target = p0.sum() + 0.5 * (p_max - p0).sum()
        pi = 0.1
        res = cm.clear(p0, p_max, gamma, p_target, pi)
        u_star = cm.utility(res.p_kw, res.mu, res.mu_dev, p0, gamma)
        for i in range(3):
            dev = rng.uniform(p0[i], p_max[i], 200)
            u_dev = cm.utility(dev, res.mu, res.mu_dev, p0[i], gamma[i])
            assert np.all(u_dev <= u_star[i] + 1e-9)
        assert cm.cmo_utility(res.p_kw, p_target) == pytest.approx(0.0, abs=1e-18)
        # any other budget-balanced price pair tracks worse
        for s in rng.uniform(0, 40, 50):
            p = cm.best_response(s, 0.0, p0, p_max, gamma)
            mu = (pi * p.sum() - s * (p.sum() - p0.sum())) / p0.sum()
            p_other = cm.best_response(mu, s - mu, p0, p_max, gamma)
            assert cm.cmo_utility(p_other, p_target) <= cm.cmo_utility(res.p_kw, p_target)


@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_c4_positivity_conditions_iff_both_prices_positive(sign):
    rng = np.random.default_rng(3)
    checked = {True: 0, False: 0}
    for _ in range(4000):
        p0 = sign * rng.uniform(1.0, 20.0)
        p_target = sign * rng.uniform(1.0, 30.0)
        pi, gamma_t = rng.uniform(0.05, 0.5), rng.uniform(0.5, 20.0)
        mu, mu_dev = cm.closed_form(p0, gamma_t, p_target, pi)
        if min(abs(mu), abs(mu_dev)) < 1e-9:
            continue
        pos = cm.prices_positive(p0, gamma_t, p_target, pi)
        assert pos == (mu > 0 and mu_dev > 0)
        checked[pos] += 1
    assert min(checked.values()) > 50  # both outcomes are exercised


def test_c5_water_filling_equals_brute_force_when_cmas_saturate():
    rng = np.random.default_rng(4)
    seen = 0
    for _ in range(30):
        p0, p_max, gamma = instance(rng, n=6)
        p_target = p0.sum() + rng.uniform(0.6, 0.95) * (p_max - p0).sum()
        res = cm.clear(p0, p_max, gamma, p_target, 0.1)
        seen += int(res.saturated.any())
        s_grid = np.linspace(0.0, 2 * (2 * gamma * (p_max - p0)).max(), 200_001)
        totals = np.array([cm.best_response(s, 0.0, p0, p_max, gamma).sum() for s in
                           s_grid[::100]])
        k = int(np.argmin(np.abs(totals - p_target))) * 100
        fine = s_grid[max(k - 100, 0):k + 101]
        tot = np.array([cm.best_response(s, 0.0, p0, p_max, gamma).sum() for s in fine])
        s_bf = fine[np.argmin(np.abs(tot - p_target))]
        ds = s_grid[1] - s_grid[0]
        assert res.mu + res.mu_dev == pytest.approx(s_bf, abs=ds)
        np.testing.assert_allclose(res.p_kw, cm.best_response(s_bf, 0.0, p0, p_max, gamma),
                                   atol=ds / (2 * gamma.min()))
        assert res.p_kw.sum() == pytest.approx(p_target, abs=1e-9)
        assert abs(res.budget_residual) <= 1e-9
    assert seen >= 20
    # beyond the bands: every CMA saturates and the shortfall is reported
    p0, p_max, gamma = instance(rng)
    res = cm.clear(p0, p_max, gamma, p_max.sum() + 3.0, 0.1)
    assert res.saturated.all() and res.shortfall_kw == pytest.approx(3.0)


def day_house(kind: int, T: int = 96) -> House:
    """A summer day in 15-min steps (solar peak at 13:00, hottest at 15:00)."""
    h = np.arange(T) / 4.0
    sun = np.clip(np.sin(np.pi * (h - 6.0) / 14.0), 0.0, None)
    t_out = 27.0 + 7.0 * np.sin(np.pi * (h - 9.0) / 12.0)  # a hot summer day
    fixed = 0.8 + 0.6 * np.exp(-((h - 19.0) / 2.5) ** 2) + 0.3 * np.exp(-((h - 8) / 1.5) ** 2)
    home = (h < 9.0) | (h >= 17.0)
    base = dict(fixed_kw=fixed * (1 + 0.2 * kind), pv_kw=1.5 + kind, pv_avail=sun,
                hp_kw=4.0, t_out=t_out)
    if kind >= 1:
        base.update(bs_kw=4.0, bs_kwh=10.0)
    if kind == 2:
        base.update(ev_kw=6.0, ev_kwh=40.0, ev_home=home)
    return House(**base)


def test_c7_stage_one_respects_every_constraint():
    prm = FlexParams()
    for kind in range(3):
        h = day_house(kind)
        f = stage_one(h, prm)
        assert f.status == "optimal"
        for d, p in f.p_kw.items():
            dl = f.delta_kw[d]
            assert np.all(dl >= prm.eps1 * np.abs(p) - 1e-6)
        lo = {"pv": 0.0, "bs": -h.bs_kw, "ev": -h.ev_kw, "hp": -h.hp_kw}
        hi = {"pv": h.pv_kw * h.pv_avail, "bs": h.bs_kw, "ev": 0.0, "hp": 0.0}
        for d, p in f.p_kw.items():
            assert np.all(p - f.delta_kw[d] >= lo[d] - 1e-6)
            assert np.all(p + f.delta_kw[d] <= hi[d] + 1e-6 + (h.pv_kw if d == "pv" else 0))
            assert np.all(p <= hi[d] + 1e-6)
        # thermal model re-simulated from the heat pump's power stays in the band
        theta = np.exp(-h.dt_h / (h.r_c_per_kw * h.c_kwh_per_c))
        t_in = [h.t_in0]
        for t in range(h.steps):
            t_in.append(theta * t_in[-1] + (1 - theta) * (h.t_out[t] + h.r_c_per_kw * h.cop
                                                            * f.p_kw["hp"][t]))
        assert np.all(np.abs(np.array(t_in) - h.t_set) <= h.t_band + 1e-5)
        for soc in f.soc.values():
            assert soc[-1] == pytest.approx(soc[0], abs=1e-6)  # cyclic
            assert soc.min() >= h.soc_min - 1e-6 and soc.max() <= 1 + 1e-6
        if kind == 2:
            away = ~h.ev_home
            assert np.all(np.abs(f.p_kw["ev"][away]) <= 1e-6)
            assert f.soc["ev"][36] >= 0.9 - 1e-6  # SOC when leaving at 09:00
            # EV SOC re-simulated from its charging power (V1G: no discharge)
            soc = f.soc["ev"]
            for t in np.flatnonzero(h.ev_home[:-1] & h.ev_home[1:]):
                assert soc[t + 1] == pytest.approx(
                    soc[t] - h.eta * f.p_kw["ev"][t] * h.dt_h / h.ev_kwh, abs=1e-6)


def test_c6_one_cmo_three_cmas_over_a_day():
    flex = [stage_one(day_house(k)) for k in range(3)]
    p0 = np.array([f.p0_kw for f in flex])  # 3 x 96
    band = np.array([f.band_kw for f in flex])
    h = np.arange(96) / 4.0
    pi = np.where((h >= 16) & (h < 21), 0.22, np.where(h < 6, 0.06, 0.10))
    gamma = np.full(3, 0.5)
    ratio, p_cmo = [], []
    for t in range(96):
        target = p0[:, t].sum() + 0.25 * band[:, t].sum()  # SMA asks for a quarter of the band
        res = cm.clear(p0[:, t], p0[:, t] + band[:, t], gamma, target, pi[t])
        assert res.tracking_error_kw <= 1e-6
        assert abs(res.budget_residual) <= 1e-9
        p_cmo.append(res.p_kw.sum())
        ratio.append(max(res.mu, res.mu_dev) / pi[t])
    p_cmo = np.array(p_cmo)
    assert np.all(p_cmo < 0)  # the CMO is a net load all day
    assert -p_cmo[48:56].mean() < -p_cmo[72:84].mean()  # midday load below the evening's
    assert np.isfinite(np.median(ratio))
