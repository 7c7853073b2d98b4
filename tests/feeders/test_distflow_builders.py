"""The balanced branch-flow builders of feeders.distflow used on their own (no market)."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import feeders
from feeders.distflow import LinDistFlow, SocpFlow, distflow


def min_import(flow, net):
    """Serve the nominal loads at least cost of import: with fixed loads the SOC
    relaxation is exact, so the optimum is the power flow."""
    pn = cp.Constant(net.load_p_pu)
    qn = net.load_q_pu - cp.multiply(net.shunt_q_pu, flow.v)
    P0, Q0 = cp.Variable(), cp.Variable()
    v0 = cp.Parameter(nonneg=True, value=net.v_source_pu ** 2)
    cons: dict = {}
    flow.set_static(0.9)
    flow.set_loss_price(0.0, 1.0)
    obj = flow.build(pn, qn, P0, cons)
    flow.root(pn, qn, P0, Q0, v0, 0, cons)
    prob = cp.Problem(cp.Minimize(obj), list(cons.values()))
    prob.solve(solver=cp.CLARABEL)
    for _ in range(5):
        if flow.update_losses():
            break
        prob.solve(solver=cp.CLARABEL)
    return prob.status, float(P0.value), np.asarray(flow.v.value)


def test_socp_builder_reproduces_the_power_flow_on_case33bw():
    net = feeders.load("case33bw").network
    pf = distflow(net, net.load_p_pu, net.load_q_pu)
    status, p0, v = min_import(SocpFlow(net, line_limits=False), net)
    assert status == "optimal"
    assert p0 == pytest.approx(pf["P0"], rel=1e-6)
    np.testing.assert_allclose(v, pf["v"], atol=1e-6)


def test_lindistflow_builder_with_loss_updates_is_close_to_the_power_flow():
    net = feeders.load("case33bw").network
    pf = distflow(net, net.load_p_pu, net.load_q_pu)
    status, p0, v = min_import(LinDistFlow(net, line_limits=False), net)
    assert status == "optimal"
    assert p0 == pytest.approx(pf["P0"], rel=2e-3)  # losses from the last flows
    np.testing.assert_allclose(v, pf["v"], atol=2e-3)


def test_tap_ratio_scales_the_downstream_voltage():
    net = feeders.load("case33bw").network
    tap = np.ones(net.m)
    tap[0] = 1.0 + 4 * net.tap_step
    base = distflow(net, net.load_p_pu, net.load_q_pu)
    up = distflow(net, net.load_p_pu, net.load_q_pu, tap=tap)
    assert np.sqrt(up["v"][1]) == pytest.approx(np.sqrt(base["v"][1]) * tap[0], rel=2e-3)
