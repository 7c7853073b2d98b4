"""The neurodynamic field: equilibria are KKT points (T9), locality of every agent's update,
forward invariance of Omega (T11)."""

import numpy as np
import pytest

from federates.transactive.central import solve_central
from federates.transactive.config import Dynamics
from federates.transactive.distributed import gains_for, initial_state
from federates.transactive.dynamics import equilibrium, field
from federates.transactive.graphs import adjacency, laplacian

GRAPHS = ["ring", "line", "complete"]


def _zstar(case, lap):
    c = solve_central(case)
    return equilibrium(case, lap, c.p, c.q, c.u, c.lam_s, c.lamt_s, c.eta_s, c.gamma)


@pytest.mark.parametrize("fix", ["substitute", "damped"])
@pytest.mark.parametrize("graph", GRAPHS)
def test_t9_central_optimum_is_an_equilibrium(case, fix, graph):
    lap = laplacian(adjacency(graph, case.m))
    for cs in (case.copper_plate(), case):
        z = _zstar(cs, lap)
        assert np.abs(field(cs, lap, z, fix).flat()).max() < 1e-8


def test_t9_catches_erratum_e2(case):
    # the printed (18g) bound (V0 - V^m-)/m moves the equilibrium: H(z*) no longer vanishes
    from dataclasses import replace
    lap = laplacian(adjacency("ring", case.m))
    z = _zstar(case, lap)
    printed = replace(case, v_lo=-case.v_lo)
    assert np.abs(field(printed, lap, z).lamt).max() > 1e-3


@pytest.mark.parametrize("mode", ["literal", "accelerated"])
@pytest.mark.parametrize("graph", ["ring", "line"])
def test_agent_update_reads_only_own_state_and_neighbours(case, graph, mode):
    rng = np.random.default_rng(7)
    lap = laplacian(adjacency(graph, case.m))
    dyn = Dynamics(mode=mode, graph=graph)
    gains = gains_for(case, dyn, lap)
    z = initial_state(case, dyn, rng)
    for name in ("u", "v", "lam", "lamt", "mu", "mut", "eta", "om"):  # nonzero messages
        setattr(z, name, rng.normal(size=getattr(z, name).shape))
    base = field(case, lap, z, "damped", gains)
    adj = adjacency(graph, case.m)
    for k in range(case.m):
        zk = z.copy()
        for name in ("p", "q", "gam", "u", "v", "lam", "lamt", "mu", "mut", "eta", "om"):
            arr = getattr(zk, name)
            arr[k] = arr[k] + rng.normal(size=np.shape(arr[k]))
        zk.p[k] = rng.uniform(case.p_lo[k], case.p_hi[k])
        moved = field(case, lap, zk, "damped", gains)
        changed = [i for i in range(case.m)
                   if not np.array_equal(base.agent(i), moved.agent(i))]
        for i in range(case.m):
            if i != k and adj[i, k] == 0:
                assert i not in changed, f"agent {i} read non-neighbour {k}"
        assert k in changed
        neighbours = set(np.flatnonzero(adj[k]))
        assert neighbours <= set(changed)  # and the neighbours do read k's messages


@pytest.mark.parametrize("mode", ["literal", "accelerated"])
def test_t11_iterates_stay_in_omega(case, mode):
    rng = np.random.default_rng(3)
    lap = laplacian(adjacency("ring", case.m))
    dyn = Dynamics(mode=mode)
    gains = gains_for(case, dyn, lap)
    z = initial_state(case, dyn, rng)
    gen = ~case.is_load
    for _ in range(3000):
        h = field(case, lap, z, dyn.e5_fix, gains)
        z = z.like(z.flat() + dyn.step * h.flat())
        assert np.all(z.p >= case.p_lo) and np.all(z.p <= case.p_hi)
        assert np.all(z.q[gen] >= case.q_lo[gen]) and np.all(z.q[gen] <= case.q_hi[gen])


def test_feeder_graph_follows_the_wires():
    import feeders

    buses = ["71", "76", "111", "51", "20", "73", "42", "70"]
    a = adjacency("feeder", 8, buses, feeders.load("case118zh"))
    assert np.array_equal(a, a.T)
    nb = {buses[i]: {buses[k] for k in np.flatnonzero(a[i])} for i in range(8)}
    # the lateral M63-M77 is the path M70 - M71 - M73 - M76 (no other prosumer between)
    assert nb["76"] == {"73"}
    assert nb["73"] == {"71", "76"}
    assert "70" in nb["71"] and "76" not in nb["71"]
