"""Primary market (AC OPF, SOC relaxation / LinDistFlow): duals, dLMPs, physics checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import feeders
from federates.market.config import PrimaryConfig
from federates.market.primary import AgentBids, Background, PrimaryMarket
from federates.market.validation import compare, opendss_solve
from feeders.network import Network


def toy() -> Network:
    """6 buses: s-1-2-3 and 1-4-5, loads in pu of 1 MVA."""
    return Network.from_pu(
        buses=["s", "1", "2", "3", "4", "5"], parent=np.array([0, 1, 2, 1, 4]),
        r=[0.01, 0.02, 0.03, 0.02, 0.02], x=[0.02, 0.03, 0.03, 0.02, 0.03],
        i_max=np.full(5, np.inf), tap=np.ones(5), load_p=[0, 0.1, 0.08, 0.1, 0.08, 0.1],
        load_q=[0, 0.04, 0.03, 0.04, 0.03, 0.04], s_base_kva=1000.0)


def setup(name: str, cfg: PrimaryConfig, scale: float = 1.1):
    """Market agents at every load bus, bidding 30 % down / 10 % up and 10 % generation."""
    f = feeders.load(name)
    net = f.network
    S = net.s_base_kva
    buses = [b for i, b in enumerate(net.buses) if net.load_p_pu[i] > 0]
    idx = np.array([net.bus_index[b] for b in buses])
    p0, q0 = net.load_p_pu[idx] * S * scale, net.load_q_pu[idx] * S
    fixed_p, fixed_q = net.load_p_pu * S, net.load_q_pu * S
    fixed_p[idx] = 0.0
    fixed_q[idx] = 0.0
    bids = AgentBids.flexible(p0, down=0.3 * p0, up=0.1 * p0, gen_max=0.1 * p0, q0=q0)
    return f, net, PrimaryMarket(net, buses, cfg), bids, fixed_p, fixed_q, idx


def fd_price(mk: PrimaryMarket, bids, fp, fq, j: int, h: float = 1.0) -> float:
    """Central finite difference of the optimal cost [$/h] for 1 kW more load at bus j."""
    up, dn = fp.copy(), fp.copy()
    up[j] += h
    dn[j] -= h
    hi = mk.clear(bids, Background(up, fq)).objective
    lo = mk.clear(bids, Background(dn, fq)).objective
    return (hi - lo) / (2 * h)


def test_toy_kkt_prices_and_agent_optimality():
    net = toy()
    cfg = PrimaryConfig(import_price=0.1, xi=0.02)
    mk = PrimaryMarket(net, ["3", "5"], cfg)
    beta = np.array([0.004, 0.002])
    bids = AgentBids(p0=np.array([100.0, 80.0]), p_min=np.array([0.0, 0.0]),
                     p_max=np.array([110.0, 90.0]), q0=np.zeros(2), q_min=np.zeros(2),
                     q_max=np.zeros(2), alpha=np.zeros(2), beta=beta, gen_max=np.zeros(2))
    res = mk.clear(bids)
    assert res.status == "optimal" and res.exact
    # the source bus price is the PCC energy price; losses make prices rise downstream
    assert res.dlmp[0] == pytest.approx(0.1, abs=1e-7)
    assert np.all(res.dlmp[1:] > res.dlmp[net.from_bus])
    assert res.dlmp[3] > res.dlmp[1] > res.dlmp[0]
    # an agent with an interior solution curtails until its marginal disutility = its dLMP
    curtail = bids.p0 - res.p_load_kw
    lam = res.dlmp[[3, 5]]
    np.testing.assert_allclose(2 * beta * curtail, lam, rtol=1e-5)
    # decomposition is exact and has no voltage/congestion part when nothing binds
    total = sum(res.components.values())
    np.testing.assert_allclose(total, res.dlmp, atol=1e-6)
    assert np.all(np.abs(res.components["congestion"]) < 1e-7)
    assert np.all(np.abs(res.components["voltage"]) < 1e-7)
    np.testing.assert_allclose(res.components["energy"], 0.1)
    # PCC balance: import = loads + losses
    assert res.pcc_p_kw == pytest.approx(
        net.load_p_pu.sum() * 1000 + res.p_kw.sum() + res.losses_kw, rel=1e-6)


def test_generation_dispatch_follows_price():
    net = toy()
    mk = PrimaryMarket(net, ["3", "5"], PrimaryConfig())
    alpha = np.array([0.005, 0.01])
    # curtailment is made prohibitive, so net load can only go down by generating
    bids = AgentBids.flexible(np.array([100.0, 80.0]), down=50.0, alpha=alpha, beta=1e3,
                              gen_max=50.0)
    res = mk.clear(bids)
    assert np.all(res.p_gen_kw > 5.0) and np.all(res.p_gen_kw < 49.0)
    np.testing.assert_allclose(alpha * res.p_gen_kw, res.dlmp[[3, 5]], rtol=1e-4)


def test_model_is_built_once_and_resolved_with_new_parameters():
    net = toy()
    mk = PrimaryMarket(net, ["3", "5"], PrimaryConfig())
    prob = mk.problem
    assert prob.is_dcp(dpp=True)
    r1 = mk.clear(AgentBids.flexible(np.array([100.0, 80.0]), down=20.0))
    r2 = mk.clear(AgentBids.flexible(np.array([150.0, 80.0]), down=20.0))
    assert mk.problem is prob
    assert r2.pcc_p_kw > r1.pcc_p_kw + 20.0


@pytest.mark.parametrize("model", ["socp", "lindistflow"])
def test_dlmp_equals_finite_difference_marginal_cost(model):
    # LinDistFlow: the loss estimate is iterated to convergence so its value is smooth
    cfg = PrimaryConfig(model=model, v_min_pu=0.9, loss_iterations=50, loss_tol=1e-9)
    _, net, mk, bids, fp, fq, idx = setup("case33bw", cfg)
    res = mk.clear(bids, Background(fp, fq))
    assert res.status == "optimal"
    tol = 1e-4 if model == "socp" else 3e-3  # LinDistFlow: loss estimate held fixed
    for j in (1, 8, 17, 24, 32):
        assert res.dlmp[j] == pytest.approx(fd_price(mk, bids, fp, fq, j), abs=tol)


def test_voltage_and_congestion_components_when_limits_bind():
    f = feeders.load("case33bw")
    i_max = f.network.i_max_bal_pu.copy()
    i_max[0] = 0.37  # first branch: 0.37 pu of current (S_base 10 MVA)
    net = dataclasses.replace(f.network, i_max_bal_pu=i_max)
    cfg = PrimaryConfig(v_min_pu=0.937)
    S = net.s_base_kva
    buses = [b for i, b in enumerate(net.buses) if net.load_p_pu[i] > 0]
    idx = np.array([net.bus_index[b] for b in buses])
    p0, q0 = net.load_p_pu[idx] * S, net.load_q_pu[idx] * S
    fp, fq = np.zeros(net.n), np.zeros(net.n)
    bids = AgentBids.flexible(p0, down=0.5 * p0, q0=q0)
    mk = PrimaryMarket(net, buses, cfg)
    res = mk.clear(bids, Background(fp, fq))
    assert res.status == "optimal"
    assert res.v_pu.min() == pytest.approx(0.937, abs=1e-5)
    assert res.branch_i_pu[0] == pytest.approx(0.37, abs=1e-5)
    assert res.components["voltage"].max() > 1e-2
    assert res.components["congestion"][1:].min() > 1e-2  # every bus is behind branch 0
    np.testing.assert_allclose(sum(res.components.values()), res.dlmp, atol=1e-5)
    weakest = int(np.argmin(res.v_pu))
    for j in (weakest, 5):
        assert res.dlmp[j] == pytest.approx(fd_price(mk, bids, fp, fq, j, h=0.5), rel=2e-3)


def test_lindistflow_agrees_with_socp_on_case33bw():
    out = {}
    for model in ("socp", "lindistflow"):
        _, net, mk, bids, fp, fq, _ = setup("case33bw", PrimaryConfig(model=model, v_min_pu=0.9))
        out[model] = mk.clear(bids, Background(fp, fq))
    a, b = out["socp"], out["lindistflow"]
    assert b.pcc_p_kw == pytest.approx(a.pcc_p_kw, rel=2e-3)
    assert np.max(np.abs(a.v_pu - b.v_pu)) < 2e-3
    assert np.sum(np.abs(a.p_kw - b.p_kw)) < 0.02 * np.sum(bids.p0 - bids.p_min)
    np.testing.assert_allclose(b.dlmp, a.dlmp, rtol=0.02)  # loss sensitivities differ


def test_relaxation_gap_flags_inexact_solutions():
    # a negative import price rewards consuming power, so fictitious losses pay off
    net = dataclasses.replace(toy(), i_max_bal_pu=np.ones(5))
    mk = PrimaryMarket(net, ["3"], PrimaryConfig(import_price=-0.5, xi=0.0))
    res = mk.clear(AgentBids.fixed(np.array([100.0])))
    assert res.status == "optimal"
    assert res.gap_kw > 1.0 and not res.exact
    ok = PrimaryMarket(net, ["3"], PrimaryConfig()).clear(AgentBids.fixed(np.array([100.0])))
    assert ok.exact and ok.gap_kw < 1e-3


def test_infeasible_clearing_returns_status_not_exception():
    hard = PrimaryMarket(toy(), ["3"], PrimaryConfig(v_min_pu=0.999, voltage_slack_price=0))
    res = hard.clear(AgentBids.fixed(np.array([300.0])))
    assert res.status.startswith("infeasible")
    assert np.isnan(res.dlmp).all()
    # soft limits (default): the clearing goes through and reports the violation
    soft = PrimaryMarket(toy(), ["3"], PrimaryConfig(v_min_pu=0.999))
    res = soft.clear(AgentBids.fixed(np.array([300.0])))
    assert res.status == "optimal"
    assert res.extra["v_violation_pu"] == pytest.approx(0.999 - res.v_pu.min(), abs=2e-4)


def _apply_in_opendss(f, net, res, fp, fq, idx):
    bp = {b: fp[i] for i, b in enumerate(net.buses)}
    bq = {b: fq[i] for i, b in enumerate(net.buses)}
    for a, j in enumerate(idx):
        bp[net.buses[j]] += res.p_kw[a]
        bq[net.buses[j]] += res.q_kvar[a]
    return compare(res, opendss_solve(f, bp, bq))


def test_cleared_setpoints_agree_with_opendss_case33bw():
    f, net, mk, bids, fp, fq, idx = setup("case33bw", PrimaryConfig(v_min_pu=0.9))
    res = mk.clear(bids, Background(fp, fq))
    assert (bids.p0 - res.p_kw).sum() > 100.0  # the market moved setpoints
    err = _apply_in_opendss(f, net, res, fp, fq, idx)
    assert err["v_max_abs_err_pu"] < 1e-4
    assert err["pcc_p_rel_err"] < 1e-3
    assert abs(err["pcc_q_err_kvar"]) < 1.0


def test_cleared_setpoints_agree_with_opendss_ieee123():
    """Unbalanced feeder vs balanced equivalent: tolerances of the reduction (see network)."""
    f, net, mk, bids, fp, fq, idx = setup("ieee123", PrimaryConfig())
    res = mk.clear(bids, Background(fp, fq))
    assert res.status == "optimal" and res.exact
    err = _apply_in_opendss(f, net, res, fp, fq, idx)
    assert err["v_mean_abs_err_pu"] < 0.005
    assert err["v_max_abs_err_pu"] < 0.025
    assert err["pcc_p_rel_err"] < 0.005
    assert abs(err["pcc_q_err_kvar"]) < 0.05 * abs(res.pcc_q_kvar) + 20.0


def test_overvoltage_stays_exact_and_prices_match_finite_differences():
    """Reverse flow (PV export): v_max binds; the linear upper bound keeps the SOC exact."""
    f = feeders.load("case33bw")
    net = f.network
    S = net.s_base_kva
    buses = [b for i, b in enumerate(net.buses) if net.load_p_pu[i] > 0]
    idx = np.array([net.bus_index[b] for b in buses])
    p0 = -1.5 * net.load_p_pu[idx] * S  # net export
    bids = AgentBids.flexible(p0, down=0.0, up=0.8 * np.abs(p0), beta=0.002)
    fp, fq = np.zeros(net.n), np.zeros(net.n)
    mk = PrimaryMarket(net, buses, PrimaryConfig(v_max_pu=1.03, import_price=0.05))
    res = mk.clear(bids, Background(fp, fq))
    assert res.status == "optimal" and res.exact
    assert res.v_pu.max() <= 1.03 + 1e-6
    assert res.components["voltage"].min() < -1e-2  # consuming relieves the over-voltage
    np.testing.assert_allclose(sum(res.components.values()), res.dlmp, atol=1e-5)
    far = int(np.argmax(res.v_pu))
    for j in (far, 5):
        assert res.dlmp[j] == pytest.approx(fd_price(mk, bids, fp, fq, j, h=0.5), abs=2e-4)
    # without the linear bound the relaxation buys voltage with fictitious losses
    plain = PrimaryMarket(net, buses, PrimaryConfig(v_max_pu=1.03, import_price=0.05,
                                                    linear_upper_voltage=False))
    assert not plain.clear(bids, Background(fp, fq)).exact
