"""Central clearing against closed forms, KKT conditions and finite differences (T5-T7, T10)."""

import numpy as np
import pytest

from federates.transactive.central import (
    dlmpa,
    effective_price,
    load_gamma,
    network_price_terms,
    solve_central,
)

# Table III of the paper: dP_i (MWh), in prosumer order 74, 79, 116, 53, 20, 76, 44, 73
TABLE_III_DP = [-0.0483, -0.0192, -0.0918, 0.08103, 0.0, 0.0079, 0.0004, 0.0701]


def copper_plate_by_bisection(case) -> tuple[float, np.ndarray]:
    """Independent copper-plate optimum: the price u that balances every best response."""

    def response(u: float) -> np.ndarray:
        interior = np.where(case.alpha > 0, (u - case.beta) / (2 * np.maximum(case.alpha, 1e-30)),
                            np.where(u > case.beta, np.inf, -np.inf))
        return np.clip(interior, case.p_lo, case.p_hi)

    lo, hi = 0.0, 200.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if response(mid).sum() < 0 else (lo, mid)
    return 0.5 * (lo + hi), response(0.5 * (lo + hi))


def test_t5_t10_copper_plate_matches_closed_form(case):
    cp = case.copper_plate()
    c = solve_central(cp)
    u, p = copper_plate_by_bisection(cp)
    assert c.u == pytest.approx(u, abs=1e-5)
    assert np.abs(c.p - p).max() < 1e-5
    interior = (c.p > cp.p_lo + 1e-6) & (c.p < cp.p_hi - 1e-6) & cp.is_ela
    assert interior.sum() >= 2  # T10 needs interior elastic prosumers
    np.testing.assert_allclose(c.p[interior], (c.u - cp.beta[interior]) / (2 * cp.alpha[interior]),
                               atol=1e-7)
    welfare = -(cp.alpha * p**2 + cp.beta * p).sum()
    assert c.welfare == pytest.approx(welfare, abs=1e-5)


def test_t6_calibrated_case_reproduces_table_iii_quantities(case):
    c = solve_central(case)
    np.testing.assert_allclose(c.p, TABLE_III_DP, atol=1.5e-4)
    assert case.p_lo[0] < c.p[0] < case.p_hi[0]  # bus 74 buys only part of its deviation
    assert c.objective == pytest.approx(-4.361, abs=2e-3)  # spec: (1) at Table III = 4.361 $
    # price pattern: above u on the congested lateral M63-M77, u elsewhere
    p_j = dlmpa(case, c)
    lateral = {"70", "71", "73", "76"}
    on = np.array([p.bus in lateral for p in case.prosumers])
    assert np.all(p_j[on] > c.u + 1e-3)
    np.testing.assert_allclose(p_j[~on], c.u, atol=1e-6)
    assert c.eta_s[0] > 0
    # bus 74's interior purchase pins its effective price at pi_Rup (the paper's 70.88)
    assert effective_price(case, c)[0] == pytest.approx(case.reserve_up, abs=1e-6)


def test_kkt_conditions_hold(case):
    c = solve_central(case)
    tp, tq = network_price_terms(case, c.lam_s, c.lamt_s, c.eta_s)
    grad = 2 * case.alpha * c.p + case.beta - c.u + np.where(case.is_ela, tp, 0.0) \
        - np.where(case.q_follows_trade, case.chi * c.gamma, 0.0)
    at_lo = c.p <= case.p_lo + 1e-7
    at_hi = c.p >= case.p_hi - 1e-7
    free = ~at_lo & ~at_hi
    assert np.abs(grad[free]).max(initial=0) < 1e-6
    assert np.all(grad[at_lo & ~at_hi] >= -1e-6) and np.all(grad[at_hi & ~at_lo] <= 1e-6)
    np.testing.assert_allclose(c.gamma, load_gamma(case, c.lam_s, c.lamt_s, c.eta_s), atol=1e-6)
    assert abs(c.p.sum()) < 1e-9
    x = case.x_network(c.p)
    i_row = case.i_gp @ x + case.i_gq @ c.q - case.i_hi
    assert abs(i_row[0]) < 1e-9 and c.eta_s[0] > 0  # complementary slackness, binding row
    v_row = case.v_gp @ x + case.v_gq @ c.q
    assert np.all(v_row < case.v_hi) and np.all(v_row > case.v_lo)
    assert np.abs(c.lam_s).max() < 1e-8 and np.abs(c.lamt_s).max() < 1e-8


@pytest.mark.parametrize("k", range(8))
def test_t7_dlmpa_is_marginal_cost_of_demand(case, k):
    c = solve_central(case)
    step = 1e-5
    d = np.zeros(case.m)
    d[k] = step
    up = solve_central(case, extra_demand=d).objective
    dn = solve_central(case, extra_demand=-d).objective
    assert (up - dn) / (2 * step) == pytest.approx(dlmpa(case, c)[k], abs=1e-3)


def test_binding_voltage_limit_prices_the_lateral(case):
    # a tighter lower voltage limit at the weakest bus makes lamt bind (decision 3's test)
    from dataclasses import replace
    c0 = solve_central(case.copper_plate())
    k = case.v_rows.index("77")
    x = case.x_network(c0.p)
    # reactive power is free, so raise the limit beyond what every generator's dQ can give
    q_best = np.where(case.is_load, c0.q, np.where(case.v_gq[k] > 0, case.q_hi, case.q_lo))
    v77 = float(case.v_gp[k] @ x + case.v_gq[k] @ q_best)
    v_lo = case.v_lo.copy()
    v_lo[k] = v77 + 3e-4 / case.v_scale[k]  # 0.3 mV p.u. more than reactive power reaches
    tight = replace(case.copper_plate(), v_gp=case.v_gp, v_gq=case.v_gq, v_hi=case.v_hi,
                    v_lo=v_lo, v_scale=case.v_scale, v_rows=case.v_rows)
    c = solve_central(tight)
    assert c.lamt_s[k] > 0
    xt = tight.x_network(c.p)
    assert float(tight.v_gp[k] @ xt + tight.v_gq[k] @ c.q) == pytest.approx(v_lo[k], abs=1e-8)
    p_j = dlmpa(tight, c)
    on = np.array([p.bus in {"70", "71", "73", "76"} for p in tight.prosumers])
    assert np.all(p_j[on] > c.u + 1e-3)  # demand there lowers |V| at M77 further
    np.testing.assert_allclose(p_j[~on], c.u, atol=1e-6)
