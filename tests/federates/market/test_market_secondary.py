"""Secondary markets: lexicographic allocation per SMO, resilience scores, commitment."""

from __future__ import annotations

import numpy as np
import pytest

from federates.market.config import SecondaryConfig
from federates.market.secondary import CommitmentTracker, SecondaryBids, SecondaryMarkets


def population(seed: int = 3, n_smo: int = 12, n_agents: int = 90):
    rng = np.random.default_rng(seed)
    smo = np.sort(np.concatenate([np.arange(n_smo), rng.integers(0, n_smo, n_agents - n_smo)]))
    p0 = rng.uniform(2.0, 8.0, n_agents)
    down = rng.uniform(0.1, 0.5, n_agents) * p0
    bids = SecondaryBids(smo=smo, p0=p0, p_min=p0 - down, p_max=p0 + 0.2 * down,
                         q0=0.3 * p0, q_min=0.3 * p0, q_max=0.3 * p0,
                         beta=rng.uniform(0.002, 0.01, n_agents),
                         resilience=rng.uniform(0.3, 1.0, n_agents))
    return bids, down


def waterfill(w: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: float) -> np.ndarray:
    """Independent solution of min sum w d^2 s.t. sum d = total, lo <= d <= hi (bisection)."""
    a, b = -1e6, 1e6
    for _ in range(200):
        nu = 0.5 * (a + b)
        if np.clip(nu / w, lo, hi).sum() < total:
            a = nu
        else:
            b = nu
    return np.clip(0.5 * (a + b) / w, lo, hi)


@pytest.mark.parametrize("reactive", [False, True])
def test_lexicographic_stages_are_kept_within_epsilon(reactive):
    bids, down = population()
    cfg = SecondaryConfig(epsilon=0.02)
    sm = SecondaryMarkets(bids.smo, 12, cfg, reactive=reactive)
    G = sm.G
    target = G @ bids.p0 - 0.4 * (G @ down)
    price = np.linspace(0.08, 0.12, 12)
    res = sm.clear(bids, target, G @ bids.q0, price)
    assert res.status == "optimal"
    np.testing.assert_allclose(res.smo_p_kw, target, atol=1e-6)
    np.testing.assert_allclose(res.q_kvar, bids.q0, atol=1e-6)
    best, final = res.stage_values, res.final_values
    slack = cfg.epsilon * np.abs(best) + 1e-4 * (1 + np.abs(best))
    assert np.all(final <= best + slack)
    # later stages did use the room they were given: flexibility improved over stage 1
    assert np.all(res.p_kw >= bids.p_min - 1e-6) and np.all(res.p_kw <= bids.p_max + 1e-6)
    assert np.all(res.p_kw - res.flex_p_kw >= bids.p_min - 1e-5)
    assert np.all(res.p_kw + res.flex_p_kw <= bids.p_max + 1e-5)


def test_reliability_stage_matches_independent_waterfilling():
    bids, down = population(seed=5)
    sm = SecondaryMarkets(bids.smo, 12, SecondaryConfig(epsilon=0.0, abs_tol=0.0))
    G = sm.G
    target = G @ bids.p0 - 0.6 * (G @ down)
    res = sm.clear(bids, target, G @ bids.q0, np.full(12, 0.1))
    for i in range(12):
        k = bids.smo == i
        d = waterfill(1 / bids.resilience[k], bids.p_min[k] - bids.p0[k],
                      bids.p_max[k] - bids.p0[k], target[i] - bids.p0[k].sum())
        np.testing.assert_allclose(res.p_kw[k] - bids.p0[k], d, atol=1e-3)


def test_more_flexibility_goes_to_agents_with_higher_resilience_score():
    rs = np.array([0.947, 0.985, 0.493])  # the three SMAs of the seed's example
    p0 = np.full(3, 5.0)
    bids = SecondaryBids(smo=np.zeros(3, dtype=int), p0=p0, p_min=p0 - 3.0, p_max=p0 + 1.0,
                         q0=np.zeros(3), q_min=np.zeros(3), q_max=np.zeros(3),
                         beta=np.full(3, 0.005), resilience=rs)
    args = (bids, np.array([12.0]), np.array([0.0]), np.array([0.1]))
    res = SecondaryMarkets(np.zeros(3, dtype=int), 1).clear(*args)
    curtail = p0 - res.p_kw
    assert curtail.sum() == pytest.approx(3.0, abs=1e-6)
    assert curtail[1] > curtail[0] > curtail[2] > 0
    # strict priority (epsilon = 0): curtailment proportional to the resilience score
    strict = SecondaryMarkets(np.zeros(3, dtype=int), 1, SecondaryConfig(epsilon=0.0, abs_tol=0.0))
    curtail = p0 - strict.clear(*args).p_kw
    np.testing.assert_allclose(curtail / curtail.sum(), rs / rs.sum(), rtol=5e-3)


def test_infeasible_target_is_clipped_and_reported():
    bids, down = population()
    sm = SecondaryMarkets(bids.smo, 12)
    G = sm.G
    target = G @ bids.p0 - 2.0 * (G @ down)  # twice what agents can give
    res = sm.clear(bids, target, G @ bids.q0, np.full(12, 0.1))
    assert res.status == "optimal"
    np.testing.assert_allclose(res.p_kw, bids.p_min, atol=1e-5)
    np.testing.assert_allclose(res.shortfall_kw, G @ down, rtol=1e-6)


def test_tariffs_follow_prices_plus_markup():
    bids, down = population()
    sm = SecondaryMarkets(bids.smo, 12, SecondaryConfig(tariff_markup=0.01))
    price = np.linspace(0.08, 0.12, 12)
    res = sm.clear(bids, sm.G @ bids.p0, sm.G @ bids.q0, price)
    np.testing.assert_allclose(res.tariff, price[bids.smo] + 0.01)


def test_commitment_score_tracks_achieved_vs_scheduled():
    tr = CommitmentTracker(memory=0.5, scale_kw=0.5)
    agents = ["good", "bad"]
    for _ in range(10):
        s = tr.update(agents, np.array([3.0, 3.0]), np.array([3.05, 1.0]))
    assert s["good"] > 0.95
    assert s["bad"] < 0.1
    # recovers when it follows its schedule again
    for _ in range(10):
        s = tr.update(agents, np.array([3.0, 3.0]), np.array([3.0, 3.0]))
    assert s["bad"] > 0.95
    np.testing.assert_allclose(tr.get(["good", "new"]), [s["good"], 1.0])


def two_clearings(bids, down, G):
    """Two different inputs to `clear`; the second has per-agent prices (stage 2 solved)."""
    rng = np.random.default_rng(4)
    return [
        (bids, G @ bids.p0 - 0.4 * (G @ down), G @ bids.q0, np.linspace(0.08, 0.12, 12)),
        (SecondaryBids(smo=bids.smo, p0=bids.p0 * 1.1, p_min=bids.p_min * 1.05,
                       p_max=bids.p_max * 1.1, q0=bids.q0, q_min=bids.q0 - 0.5,
                       q_max=bids.q0 + 0.5, beta=bids.beta[::-1].copy(),
                       resilience=rng.uniform(0.1, 1.0, len(bids))),
         G @ (bids.p0 * 1.1) - 0.7 * (G @ down), G @ bids.q0 + 0.3,
         rng.uniform(0.05, 0.3, len(bids))),
    ]


@pytest.mark.parametrize("reactive", [False, True])
def test_direct_clarabel_form_equals_cvxpy_model(reactive):
    """Stages 2-4 assembled directly for Clarabel solve the same problems as the cvxpy
    models: same stage optima and the same allocation, also with an SMO without agents."""
    bids, down = population(seed=17)
    keep = bids.smo != 5  # SMO 5 has no agents
    bids = SecondaryBids(**{f: getattr(bids, f)[keep] for f in bids.__dataclass_fields__})
    down = down[keep]
    cfg = SecondaryConfig(epsilon=0.02)
    direct = SecondaryMarkets(bids.smo, 12, cfg.model_copy(update={"backend": "clarabel"}),
                              reactive=reactive)
    model = SecondaryMarkets(bids.smo, 12, cfg.model_copy(update={"backend": "cvxpy"}),
                             reactive=reactive)
    for args in two_clearings(bids, down, direct.G):
        a, b = direct.clear(*args), model.clear(*args)
        assert a.status == b.status == "optimal"
        np.testing.assert_allclose(a.stage_values, b.stage_values, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.final_values, b.final_values, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(a.p_kw, b.p_kw, atol=1e-3)
        np.testing.assert_allclose(a.q_kvar, b.q_kvar, atol=1e-3)
        assert a.smo_p_kw[5] == 0.0


@pytest.mark.parametrize("reactive", [False, True])
def test_reused_problem_matches_freshly_built_one(reactive):
    """Re-solving the cached (parametrised) cvxpy problems gives the allocation of a fresh
    build."""
    bids, down = population(seed=11)
    cfg = SecondaryConfig(epsilon=0.02, backend="cvxpy")
    cached = SecondaryMarkets(bids.smo, 12, cfg, reactive=reactive)
    inputs = two_clearings(bids, down, cached.G)
    G = cached.G
    for args in inputs + inputs[::-1]:
        fresh = SecondaryMarkets(bids.smo, 12, cfg, reactive=reactive).clear(*args)
        again = cached.clear(*args)
        assert again.status == fresh.status == "optimal"
        # same optimum up to the solver's tolerance (Clarabel keeps the first data's scaling
        # when cvxpy updates a cached solver): 0.1 W
        np.testing.assert_allclose(again.p_kw, fresh.p_kw, atol=1e-4)
        np.testing.assert_allclose(again.q_kvar, fresh.q_kvar, atol=1e-4)
        # individual bands are not unique (only their SMO sum is optimised): compare the sums
        np.testing.assert_allclose(G @ again.flex_p_kw, G @ fresh.flex_p_kw, atol=1e-4)
        np.testing.assert_allclose(again.stage_values, fresh.stage_values, rtol=1e-5, atol=1e-6)


def test_closed_form_reliability_stage_equals_solver_optimum():
    """The water-filling of stage 1 is the optimum of the stage-1 convex problem."""
    import cvxpy as cp

    bids, down = population(seed=13)
    sm = SecondaryMarkets(bids.smo, 12)
    G = sm.G
    lo, hi = bids.p_min - bids.p0, bids.p_max - bids.p0
    total = np.clip(-0.5 * (G @ down), G @ lo, G @ hi)
    rs = bids.resilience
    d = sm._waterfill(rs, lo, hi, total)
    x = cp.Variable(len(bids))
    cp.Problem(cp.Minimize(cp.sum(cp.multiply(1 / rs, cp.square(x)))),
               [G @ x == total, x >= lo, x <= hi]).solve(solver=cp.CLARABEL)
    np.testing.assert_allclose(G @ d, total, atol=1e-9)
    assert np.all(d >= lo - 1e-12) and np.all(d <= hi + 1e-12)
    np.testing.assert_allclose(d, x.value, atol=1e-5)
