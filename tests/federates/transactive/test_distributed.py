"""The distributed algorithm reaches the central optimum (T5, T7, T8 on the copper plate)."""

import numpy as np
import pytest

from federates.transactive.central import solve_central
from federates.transactive.config import Dynamics
from federates.transactive.distributed import initial_state, run_continuous, run_discrete
from federates.transactive.graphs import adjacency, laplacian


def _check(run, central, cs):
    assert run.converged
    assert np.abs(run.p - central.p).max() < 1e-5
    assert abs(run.u - central.u) <= 1e-6 * central.u  # T7: u equals the central dual
    assert run.spread < 1e-6
    assert abs(run.p.sum()) < 1e-6
    welfare = -(cs.alpha * run.p**2 + cs.beta * run.p).sum()
    assert welfare == pytest.approx(central.welfare, abs=1e-5)


@pytest.mark.parametrize("graph,starts", [("ring", 10), ("line", 3), ("complete", 3)])
def test_t8_accelerated_discrete_random_starts(case, graph, starts):
    cs = case.copper_plate()
    central = solve_central(cs)
    lap = laplacian(adjacency(graph, cs.m))
    dyn = Dynamics(mode="accelerated", graph=graph, check_every=50)
    rng = np.random.default_rng(11)
    for _ in range(starts):
        run = run_discrete(cs, lap, dyn, initial_state(cs, dyn, rng), max_iter=20_000)
        _check(run, central, cs)


def test_t8_literal_discrete(case):
    cs = case.copper_plate()
    central = solve_central(cs)
    lap = laplacian(adjacency("ring", cs.m))
    dyn = Dynamics(mode="literal", check_every=500)
    run = run_discrete(cs, lap, dyn, max_iter=300_000)
    _check(run, central, cs)


@pytest.mark.parametrize("fix", ["substitute", "damped"])
def test_t8_continuous(case, fix):
    cs = case.copper_plate()
    central = solve_central(cs)
    lap = laplacian(adjacency("ring", cs.m))
    dyn = Dynamics(mode="literal", e5_fix=fix)
    run = run_continuous(cs, lap, dyn, horizon=5e3)
    _check(run, central, cs)


def test_t6_t8_accelerated_reaches_calibrated_optimum(case):
    # the congested reference (M70-M71 binding): trades, u and eta equal the central duals
    central = solve_central(case)
    lap = laplacian(adjacency("ring", case.m))
    dyn = Dynamics(mode="accelerated", check_every=100)
    run = run_discrete(case, lap, dyn, max_iter=60_000)
    _check(run, central, case)
    assert abs(run.eta_s[0] - central.eta_s[0]) <= 1e-6 * central.eta_s[0]
    assert np.abs(run.q - central.q)[case.is_load].max() < 1e-5
    assert case.p_lo[0] < run.p[0] < case.p_hi[0]  # bus 74 buys part of its deviation
