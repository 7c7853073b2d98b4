"""Islanded primary market: zero PCC import, a grid-forming unit balances the feeder.

Checked against independent references: KKT conditions of the grid-forming unit and of the
agents, finite differences of the optimal cost (dLMP = marginal cost of 1 kW more load),
and OpenDSS solving the islanded feeder with the cleared setpoints (substation open, source
at the grid-forming bus, exactly as the grid federate runs it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from federates.market.config import GridFormingConfig, MarketConfig, PrimaryConfig
from federates.market.operator import MarketOperator
from federates.market.primary import AgentBids, Background, PrimaryMarket
from federates.market.report import grid_forming_metrics, island_markdown
from federates.market.validation import compare, opendss_solve
from feeders.opendss import IslandSetup
from tests.federates.grid.test_grid_model import load_powers_kw
from tests.federates.market.test_market_operator import bids_for, grid_state
from tests.federates.market.test_market_primary import fd_price, setup, toy

COST, ALPHA = 0.08, 2e-4


def island_cfg(**gf) -> PrimaryConfig:
    unit = {"bus": "1", "p_max_kw": 1000.0, "cost": COST, "alpha": ALPHA, "v_pu": 1.02, **gf}
    return PrimaryConfig(islanded=True, grid_forming=unit)


def toy_bids() -> AgentBids:
    return AgentBids.flexible(np.array([100.0, 80.0]), down=30.0,
                              beta=np.array([0.004, 0.002]))


def test_island_imports_nothing_and_the_unit_covers_loads_plus_losses():
    net = toy()
    mk = PrimaryMarket(net, ["3", "5"], island_cfg())
    assert mk.grid_forming_bus == "1" and mk.slack == 1
    res = mk.clear(toy_bids())
    assert res.status == "optimal" and res.exact
    assert abs(res.pcc_p_kw) < 1e-6 and abs(res.pcc_q_kvar) < 1e-6
    served = net.load_p_pu.sum() * net.s_base_kva + res.p_kw.sum() + res.losses_kw
    assert res.grid_forming_p_kw == pytest.approx(served, rel=1e-6)
    served_q = net.load_q_pu.sum() * net.s_base_kva + res.q_kvar.sum()
    assert res.grid_forming_q_kvar > served_q  # plus the reactive losses
    assert res.v_pu[1] == pytest.approx(1.02, abs=1e-6)  # the unit holds its bus voltage
    assert res.costs["import"] == pytest.approx(0.0, abs=1e-9)
    p = res.grid_forming_p_kw
    assert res.costs["grid_forming"] == pytest.approx(COST * p + 0.5 * ALPHA * p ** 2)


def test_island_prices_satisfy_kkt_and_equal_marginal_costs():
    net = toy()
    mk = PrimaryMarket(net, ["3", "5"], island_cfg())
    bids = toy_bids()
    fp, fq = net.load_p_pu * net.s_base_kva, net.load_q_pu * net.s_base_kva
    res = mk.clear(bids, Background(fp, fq))
    # the unit is dispatched below capacity: its bus price is its marginal cost
    mc = COST + ALPHA * res.grid_forming_p_kw
    assert res.dlmp[1] == pytest.approx(mc, abs=1e-7)
    # the decomposition's energy part is that marginal cost and the parts add up
    np.testing.assert_allclose(res.components["energy"], mc, atol=1e-7)
    np.testing.assert_allclose(sum(res.components.values()), res.dlmp, atol=1e-6)
    # losses: prices rise away from the unit; the source bus, cut off (no flow on its
    # branch), has the unit's price
    assert np.all(res.dlmp[[2, 3, 4, 5]] > res.dlmp[1])
    assert res.dlmp[0] == pytest.approx(res.dlmp[1], abs=1e-7)
    # agents: an interior curtailment equates marginal disutility and the local price;
    # an agent at its limit would curtail more at that price
    curtail = bids.p0 - res.p_load_kw
    lam = res.dlmp[[3, 5]]
    interior = (curtail > 1e-3) & (curtail < 30.0 - 1e-3)
    assert interior.any()
    np.testing.assert_allclose((2 * bids.beta * curtail)[interior], lam[interior], rtol=1e-5)
    assert np.all((2 * bids.beta * curtail)[~interior] <= lam[~interior] + 1e-7)
    for j in range(net.n):
        assert res.dlmp[j] == pytest.approx(fd_price(mk, bids, fp, fq, j), abs=2e-6)


def test_capacity_limit_prices_scarcity_and_curtails_load():
    net = toy()
    fp, fq = net.load_p_pu * net.s_base_kva, net.load_q_pu * net.s_base_kva
    free = PrimaryMarket(net, ["3", "5"], island_cfg()).clear(toy_bids(), Background(fp, fq))
    cap = free.grid_forming_p_kw - 4.0
    mk = PrimaryMarket(net, ["3", "5"], island_cfg(p_max_kw=cap, overload_price=0.0))
    bids = toy_bids()
    res = mk.clear(bids, Background(fp, fq))
    assert res.status == "optimal"
    assert res.grid_forming_p_kw == pytest.approx(cap, abs=1e-4)
    assert res.dlmp[1] > COST + ALPHA * cap + 1e-3  # scarcity: the capacity dual
    # the balance now needs about 4 kW more curtailment (less a little saved losses)
    extra = (free.p_load_kw - res.p_load_kw).sum()
    assert 3.8 < extra < 4.0
    for j in (1, 3, 5):
        assert res.dlmp[j] == pytest.approx(fd_price(mk, bids, fp, fq, j, h=0.5), abs=1e-5)
    # not enough flexibility: the hard limit is infeasible, the soft one reports overload
    short = AgentBids.flexible(np.array([100.0, 80.0]), down=1.0)
    tiny = free.grid_forming_p_kw - 100.0
    hard = PrimaryMarket(net, ["3", "5"], island_cfg(p_max_kw=tiny, overload_price=0.0))
    assert hard.clear(short, Background(fp, fq)).status.startswith("infeasible")
    soft = PrimaryMarket(net, ["3", "5"], island_cfg(p_max_kw=tiny, overload_price=5.0))
    res = soft.clear(short, Background(fp, fq))
    assert res.status == "optimal"
    over = res.extra["grid_forming_overload_kw"]
    assert over == pytest.approx(res.grid_forming_p_kw - tiny) and over > 90.0
    assert res.dlmp[1] == pytest.approx(COST + ALPHA * res.grid_forming_p_kw + 5.0, abs=1e-6)


def test_pcc_import_range_binds_and_prices_the_bound():
    net = toy()
    free = PrimaryMarket(net, ["3", "5"], PrimaryConfig()).clear(toy_bids())
    cap = free.pcc_p_kw - 20.0
    mk = PrimaryMarket(net, ["3", "5"], PrimaryConfig(pcc_p_max_kw=cap))
    bids = toy_bids()
    fp, fq = net.load_p_pu * net.s_base_kva, net.load_q_pu * net.s_base_kva
    res = mk.clear(bids, Background(fp, fq))
    assert res.pcc_p_kw == pytest.approx(cap, abs=1e-4)
    assert res.dlmp[0] > 0.1 + 1e-3  # import price plus the bound's dual
    np.testing.assert_allclose(res.components["energy"], res.dlmp[0], atol=1e-9)
    np.testing.assert_allclose(sum(res.components.values()), res.dlmp, atol=1e-6)
    for j in (0, 3, 5):
        assert res.dlmp[j] == pytest.approx(fd_price(mk, bids, fp, fq, j, h=0.5), abs=1e-5)
    # a grid-connected grid-forming unit is a dispatchable generator cheaper than import
    gen = PrimaryMarket(net, ["3", "5"], PrimaryConfig(grid_forming={
        "bus": "4", "p_max_kw": 50.0, "cost": 0.05}))
    res = gen.clear(bids, Background(fp, fq))
    assert res.grid_forming_p_kw == pytest.approx(50.0, abs=1e-4)
    assert res.pcc_p_kw == pytest.approx(free.pcc_p_kw - 50.0, abs=3.0)


def test_island_problem_is_built_once_and_resolves_with_new_bids():
    mk = PrimaryMarket(toy(), ["3", "5"], island_cfg())
    prob = mk.problem
    assert prob.is_dcp(dpp=True)
    r1 = mk.clear(AgentBids.fixed(np.array([100.0, 80.0])))
    r2 = mk.clear(AgentBids.fixed(np.array([150.0, 80.0])))
    assert mk.problem is prob
    assert r2.grid_forming_p_kw - r1.grid_forming_p_kw == pytest.approx(50.0, abs=2.0)
    assert abs(r2.pcc_p_kw) < 1e-6


def test_configuration_errors_name_the_field():
    with pytest.raises(ValidationError, match="grid_forming: required when islanded"):
        PrimaryConfig(islanded=True)
    with pytest.raises(ValidationError, match="pcc_p_max_kw: must be unset or 0"):
        PrimaryConfig(islanded=True, grid_forming={"p_max_kw": 10}, pcc_p_max_kw=5)
    with pytest.raises(ValidationError, match="pcc_p_min_kw"):
        PrimaryConfig(pcc_p_min_kw=10, pcc_p_max_kw=5)
    with pytest.raises(ValidationError, match="p_min_kw"):
        GridFormingConfig(p_min_kw=20, p_max_kw=10)
    with pytest.raises(ValueError, match="grid_forming.bus: 'nowhere'"):
        PrimaryMarket(toy(), ["3"], island_cfg(bus="nowhere"))
    # default bus: the one the source bus's only branch feeds (feeder side of the PCC)
    default = PrimaryMarket(toy(), ["3"], island_cfg(bus=""))
    assert default.grid_forming_bus == "1"


def test_island_clearing_agrees_with_opendss_ieee123():
    """The cleared setpoints applied to the islanded feeder in OpenDSS: the unit supplies
    loads + losses; errors are those of the balanced equivalent (tests/test_market_primary)."""
    cfg = PrimaryConfig(islanded=True, grid_forming={
        "bus": "150r", "v_pu": 1.03, "p_max_kw": 4000, "cost": 0.08, "alpha": 2e-5})
    f, net, mk, bids, fp, fq, idx = setup("ieee123", cfg)
    res = mk.clear(bids, Background(fp, fq))
    assert res.status == "optimal" and res.exact
    assert (bids.p0 - res.p_kw).sum() > 500.0  # the market moved setpoints
    bp = {b: fp[i] for i, b in enumerate(net.buses)}
    bq = {b: fq[i] for i, b in enumerate(net.buses)}
    for a, j in enumerate(idx):
        bp[net.buses[j]] += res.p_kw[a]
        bq[net.buses[j]] += res.q_kvar[a]
    out = opendss_solve(f, bp, bq, island=IslandSetup("150r", 1.03))
    assert out["pcc_p_kw"] == 0.0
    # balance to OpenDSS's default convergence tolerance (1e-4 pu on voltages)
    assert out["grid_forming_p_kw"] == pytest.approx(load_powers_kw() + out["losses_kw"],
                                                     rel=5e-5)
    assert out["v_bus_pu"]["150r"] == pytest.approx(1.03, abs=1e-4)
    assert out["v_bus_pu"]["150"] < 0.1  # the substation side is de-energised
    err = compare(res, out)
    assert err["buses_compared"] == net.n - 1
    assert abs(err["grid_forming_p_err_kw"]) < 0.005 * out["grid_forming_p_kw"]
    assert abs(err["grid_forming_q_err_kvar"]) < 0.05 * abs(out["grid_forming_q_kvar"]) + 20
    assert err["v_mean_abs_err_pu"] < 0.005
    assert err["v_max_abs_err_pu"] < 0.025


def test_lindistflow_island_agrees_with_socp():
    out = {}
    for model in ("socp", "lindistflow"):
        cfg = PrimaryConfig(model=model, v_min_pu=0.9, islanded=True, grid_forming={
            "bus": "1", "p_max_kw": 6000, "cost": 0.08})
        _, _, mk, bids, fp, fq, _ = setup("case33bw", cfg)
        out[model] = mk.clear(bids, Background(fp, fq))
    a, b = out["socp"], out["lindistflow"]
    assert a.status == b.status == "optimal"
    assert abs(b.pcc_p_kw) < 1e-6
    assert b.grid_forming_p_kw == pytest.approx(a.grid_forming_p_kw, rel=2e-3)
    assert np.max(np.abs(a.v_pu - b.v_pu)) < 2e-3
    np.testing.assert_allclose(b.dlmp, a.dlmp, rtol=0.02)


def island_operator(**extra) -> MarketOperator:
    periods = {"primary_period": "5min", "secondary_period": "5min", **extra}
    cfg = MarketConfig(feeder="ieee123", background_load="none", primary=PrimaryConfig(
                           voltage_cost=50.0, islanded=True,
                           grid_forming={"bus": "150r", "v_pu": 1.02, "p_max_kw": 4000}),
                       **periods)
    return MarketOperator(cfg)


def test_operator_schedules_zero_import_and_the_units_output():
    op = island_operator()
    op.on_grid(grid_state(0.0))
    for b in bids_for(op, 0.0):
        op.on_bid(b)
    out = op.clear(0.0)
    sched = out.schedule
    assert sched is not None and out.metrics is not None
    assert abs(sched.p_kw) < 1e-6 and abs(sched.q_kvar) < 1e-6
    served = sum(sp.p_kw for sp in out.setpoints) + out.metrics.losses_kw
    assert sched.grid_forming_p_kw == pytest.approx(served, rel=1e-4)
    assert sched.grid_forming_q_kvar is not None and sched.grid_forming_q_kvar > 0
    # wire format: the optional fields travel and are validated strictly
    assert type(sched).from_wire(sched.to_wire()) == sched
    # grid-connected markets leave them out
    gc = MarketOperator(MarketConfig(feeder="ieee123", background_load="none",
                                     primary_period="5min", secondary_period="5min"))
    for b in bids_for(gc, 0.0):
        gc.on_bid(b)
    assert gc.clear(0.0).schedule.grid_forming_p_kw is None


def test_stale_bids_are_held_at_their_baseline():
    """An SMO whose bid is out of date (its link is cut) offers no flexibility."""
    results = {}
    for mode in ("keep", "fixed"):
        op = island_operator(stale_bids=mode)
        op.on_grid(grid_state(0.0))
        for b in bids_for(op, 0.0):
            op.on_bid(b)
        op.clear(0.0)
        cut = op.smos[:10]
        for b in bids_for(op, 300.0):  # next period: the cut SMOs' bids do not arrive
            if b.smo not in cut:
                op.on_bid(b)
        bids = op.agent_bids(300.0)
        out = op.clear(300.0)
        results[mode] = (bids, out, cut, op)
    bids, out, cut, op = results["fixed"]
    held = [op.smos.index(s) for s in cut]
    np.testing.assert_allclose(bids.p_min[held], bids.p0[held])
    np.testing.assert_allclose(bids.p_max[held], bids.p0[held])
    assert op.stale_smos == set(cut)
    by_smo = {d.smo: d for d in out.dispatch[0].smos}
    assert all(by_smo[s].p_kw == pytest.approx(by_smo[s].p0_kw, abs=1e-6) for s in cut)
    kept, out_keep, _, _ = results["keep"]
    assert np.all(kept.p_min[held] < kept.p0[held])  # 'keep' still counts on them
    keep_smo = {d.smo: d for d in out_keep.dispatch[0].smos}
    assert sum(keep_smo[s].p0_kw - keep_smo[s].p_kw for s in cut) > 1.0


def test_report_checks_balance_capacity_floor_and_schedule():
    cfg = MarketConfig(feeder="ieee123", primary=PrimaryConfig(
        islanded=True, grid_forming={"p_min_kw": 100, "p_max_kw": 1000}))
    times = np.arange(0.0, 600.0, 60.0)
    output = np.array([1500, 1200, 900, 800, 800, 50, 40, 300, 300, 300], dtype=float)
    rows = []
    for t, p in zip(times, output, strict=True):
        rows += [(t, "grid.island_p_kw", "", p), (t, "grid.pcc_p_kw", "", 0.0),
                 (t, "grid.losses_kw", "", 10.0), (t, "grid.bus_p_kw", "a", p - 30.0),
                 (t, "grid.bus_p_kw", "b", 20.0)]
    for t, s in ((0.0, 1000.0), (180.0, 800.0), (300.0, 300.0)):
        rows.append((t, "market.grid_forming_p_kw", "", s))
    # primary dispatch of two SMOs: 'y' is held without flexibility at the first clearing
    for t, smo, p, lo, hi in ((0.0, "x", 50.0, 0.0, 60.0), (0.0, "y", 30.0, 30.0, 30.0),
                              (300.0, "x", 0.5, 0.0, 60.0), (300.0, "y", 10.0, 0.0, 40.0)):
        rows += [(t, "market.primary.p_kw", smo, p), (t, "market.primary.p_min_kw", smo, lo),
                 (t, "market.primary.p_max_kw", smo, hi)]
    ts = pd.DataFrame(rows, columns=["time", "signal", "id", "value"])
    m = grid_forming_metrics("market", cfg, ts)
    assert m["down_flexibility_left_kw_min"] == pytest.approx(10.5)
    assert (m["down_flexibility_left_time_s"], m["smos_at_minimum_then"],
            m["flexible_smos_then"]) == (300.0, 1, 2)
    assert m["pcc_import_abs_kw_max"] == 0.0
    assert m["island_balance_residual_kw_max"] == pytest.approx(0.0, abs=1e-9)
    assert m["grid_forming_over_capacity_steps"] == 2
    assert m["grid_forming_over_capacity_intervals_s"] == [[0.0, 60.0]]
    assert m["grid_forming_over_capacity_kw_max"] == 500.0
    assert m["grid_forming_below_floor_intervals_s"] == [[300.0, 360.0]]
    # schedule in force from the step after each clearing: 1000 at 60..180, 800 at 240..300,
    # 300 from 360 on
    err = np.abs(output[1:] - np.array([1000, 1000, 1000, 800, 800, 300, 300, 300, 300]))
    assert m["grid_forming_schedule_error_kw_mean"] == pytest.approx(err.mean(), abs=1e-3)
    text = island_markdown("market", m)
    assert "| Steps above capacity (max excess [kW]; when) | 2 (500.0; [0, 60] s) |" in text


def test_secondary_only_clearing_schedules_zero_import_in_the_island():
    """Between primary clearings the secondary markets re-evaluate the schedule: islanded it
    stays at zero import, the unit's output being the island's load plus losses (the same
    as the primary's schedule when the SMO totals are unchanged)."""
    op = island_operator(primary_period="15min")
    op.on_grid(grid_state(0.0))
    for b in bids_for(op, 0.0):
        op.on_bid(b)
    first = op.clear(0.0).schedule
    again = op.clear(300.0).schedule  # secondary only, same bids
    assert again is not None and again.period_end == 600.0
    assert again.p_kw == 0.0 and again.q_kvar == 0.0
    assert again.grid_forming_p_kw == pytest.approx(first.grid_forming_p_kw, rel=1e-4)
