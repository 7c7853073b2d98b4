"""Closed-form stages 3-4 of the secondary markets against the Clarabel and cvxpy backends."""

from __future__ import annotations

import numpy as np
import pytest

from federates.market.config import SecondaryConfig
from federates.market.secondary import SecondaryBids, SecondaryMarkets
from tests.federates.market.test_market_secondary import population

N_SMO = 85


def instance(seed: int) -> tuple[SecondaryBids, np.ndarray, np.ndarray]:
    """85 SMOs with 1-30 agents (one SMO without agents, agents without range, beta = 0
    agents and one beta = 0 SMO) and targets inside, at and outside the feasible range."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 31, N_SMO)
    counts[7] = 0
    smo = np.repeat(np.arange(N_SMO), counts)
    na = len(smo)
    p0 = rng.uniform(0.5, 8.0, na)
    down = rng.uniform(0.0, 0.6, na) * p0 * (rng.random(na) > 0.1)
    up = rng.uniform(0.0, 0.5, na) * p0 * (rng.random(na) > 0.3)
    beta = rng.uniform(0.002, 0.02, na) * (rng.random(na) > 0.2)
    beta[smo == 3] = 0.0
    bids = SecondaryBids(smo=smo, p0=p0, p_min=p0 - down, p_max=p0 + up, q0=0.3 * p0,
                         q_min=0.3 * p0, q_max=0.3 * p0, beta=beta,
                         resilience=rng.uniform(0.05, 1.0, na))
    G = np.zeros((N_SMO, na))
    G[smo, np.arange(na)] = 1.0
    frac = rng.choice([-1.3, -1.0, -0.6, -0.2, 0.0, 0.3, 1.0, 1.2], N_SMO)
    frac += rng.uniform(-0.1, 0.1, N_SMO) * (np.abs(frac) != 1.0)
    target = G @ p0 + np.where(frac < 0, frac * (G @ down), frac * (G @ up))
    price = rng.uniform(0.05, 0.3, N_SMO)
    return bids, target, price


def markets(bids: SecondaryBids, backend: str, epsilon: float = 0.01,
            abs_tol: float = 1e-6) -> SecondaryMarkets:
    cfg = SecondaryConfig(epsilon=epsilon, abs_tol=abs_tol, backend=backend)
    return SecondaryMarkets(bids.smo, N_SMO, cfg)


def check_feasible(res, bids: SecondaryBids, cfg: SecondaryConfig) -> None:
    """Every agent inside its range and band, every earlier stage within its bound."""
    tol = 1e-6
    assert np.all(res.p_kw >= bids.p_min - tol) and np.all(res.p_kw <= bids.p_max + tol)
    assert np.all(res.flex_p_kw >= 0)
    assert np.all(res.p_kw - res.flex_p_kw >= bids.p_min - tol)
    assert np.all(res.p_kw + res.flex_p_kw <= bids.p_max + tol)
    best, final = res.stage_values, res.final_values
    scale = max(np.max(np.abs(bids.p_max - bids.p0)), np.max(np.abs(bids.p_min - bids.p0)), 1)
    abs_tol = cfg.abs_tol * np.array([scale ** 2, scale, scale, scale])[:, None]  # unscaled
    bound = best + cfg.epsilon * np.abs(best) + abs_tol
    for k in (0, 2, 3):  # stage 2 (cost) is fixed by the balance
        assert np.all(final[k] <= bound[k] + 1e-7 * (1 + np.abs(best[k]))), k


@pytest.mark.parametrize(("seed", "epsilon"), [(1, 0.01), (2, 0.01), (3, 0.01), (4, 0.05)])
def test_closed_form_matches_solver_backends(seed, epsilon):
    """Same stage optima, allocations (where unique) and feasibility as Clarabel and cvxpy."""
    bids, target, price = instance(seed)
    closed = markets(bids, "closed", epsilon)
    G = closed.G
    res = closed.clear(bids, target, G @ bids.q0, price)
    assert res.status == "optimal"
    # stage 3 entirely in closed form; in stage 4 only SMOs where both bounds bind go to
    # Clarabel
    assert closed.paths[0] == "closed (0 SMOs by clarabel)"
    assert closed.paths[1].startswith("closed")
    assert closed._closed.cases[3] < N_SMO // 2
    check_feasible(res, bids, closed.cfg)
    np.testing.assert_allclose(res.smo_p_kw, G @ bids.p0 + np.clip(
        target - G @ bids.p0, G @ (bids.p_min - bids.p0), G @ (bids.p_max - bids.p0)),
        atol=1e-6)
    # stage 4 is strictly convex (unique optimum) in the SMOs where every beta > 0
    unique_smo = np.bincount(bids.smo, bids.beta == 0, minlength=N_SMO) == 0
    unique = unique_smo[bids.smo]
    for backend in ("clarabel", "cvxpy"):
        ref = markets(bids, backend, epsilon).clear(bids, target, G @ bids.q0, price)
        assert ref.status == "optimal"
        np.testing.assert_allclose(res.stage_values, ref.stage_values, rtol=1e-5, atol=1e-6)
        for k in (0, 3):  # flexibility at the final point: bands are not unique in the solvers
            np.testing.assert_allclose(res.final_values[k, unique_smo],
                                       ref.final_values[k, unique_smo], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(res.p_kw[unique], ref.p_kw[unique], atol=1e-3)


def test_strict_priority_falls_back_where_the_bracket_fails():
    """With epsilon = abs_tol = 0 stage 1 leaves no room: the closed form hands the SMOs to
    Clarabel and the result is Clarabel's."""
    bids, down = population(seed=5)
    cfg = SecondaryConfig(epsilon=0.0, abs_tol=0.0)
    sm = SecondaryMarkets(bids.smo, 12, cfg.model_copy(update={"backend": "closed"}))
    args = (bids, sm.G @ bids.p0 - 0.6 * (sm.G @ down), sm.G @ bids.q0, np.full(12, 0.1))
    res = sm.clear(*args)
    ref = SecondaryMarkets(bids.smo, 12, cfg).clear(*args)
    assert res.status == ref.status == "optimal"
    assert sm.paths[0] != "closed (0 SMOs by clarabel)"
    np.testing.assert_allclose(res.stage_values, ref.stage_values, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.p_kw, ref.p_kw, atol=1e-3)


def test_non_uniform_prices_fall_back_to_clarabel():
    bids, target, price = instance(5)
    sm = markets(bids, "closed")
    agent_price = price[bids.smo] * np.linspace(0.9, 1.1, len(bids))
    res = sm.clear(bids, target, sm.G @ bids.q0, agent_price)
    assert res.status == "optimal"
    assert sm.paths == ["clarabel"] * 3  # stages 2, 3 and 4
    ref = markets(bids, "clarabel").clear(bids, target, sm.G @ bids.q0, agent_price)
    np.testing.assert_allclose(res.p_kw, ref.p_kw)


def test_reactive_falls_back_to_clarabel():
    bids, target, price = instance(6)
    sm = SecondaryMarkets(bids.smo, N_SMO, SecondaryConfig(backend="closed"), reactive=True)
    res = sm.clear(bids, target, sm.G @ bids.q0, price)
    assert res.status == "optimal"
    assert sm.paths == ["clarabel"] * 2
