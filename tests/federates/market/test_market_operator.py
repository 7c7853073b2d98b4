"""Market operator (pure): bid book -> primary + secondary clearings -> setpoints, prices."""

from __future__ import annotations

import pytest

from federates.market.config import MarketConfig, PrimaryConfig
from federates.market.federate import MarketFederate
from federates.market.operator import MarketOperator
from federates.messages import (
    AgentCoefficients,
    AgentScore,
    CoefficientUpdate,
    FlexibilityBid,
    GridState,
    HouseScores,
    Response,
)
from federates.runtime import RuntimeConfig, ScenarioContext


def bids_for(op: MarketOperator, t: float, scale: float = 1.2, period: float = 300.0):
    """Three houses per SMO sharing the bus's nominal load, each 40 % flexible downwards."""
    S = op.net.s_base_kva
    out = []
    for smo, j in zip(op.smos, op.smo_bus, strict=True):
        p_bus, q_bus = op.net.load_p_pu[j] * S * scale, op.net.load_q_pu[j] * S * scale
        agents = {"agent_p0_kw": p_bus / 3, "agent_q0_kvar": q_bus / 3,
                  "agent_p_min_kw": 0.6 * p_bus / 3, "agent_p_max_kw": 1.05 * p_bus / 3,
                  "agent_q_min_kvar": q_bus / 3, "agent_q_max_kvar": q_bus / 3,
                  "agent_alpha": 0.0, "agent_beta": 0.004, "agent_gen_max_kw": 0.0}
        out.append(FlexibilityBid(
            time=t, smo=smo, period_start=t + 60, period_end=t + 60 + period,
            p0_kw=p_bus, q0_kvar=q_bus, p_min_kw=0.6 * p_bus, p_max_kw=1.05 * p_bus,
            q_min_kvar=q_bus, q_max_kvar=q_bus, alpha=0.0, beta=0.004 / 3,
            agents=[f"{smo}_h{k}" for k in range(3)],
            **{c: [v] * 3 for c, v in agents.items()}))
    return out


def grid_state(t: float) -> GridState:
    return GridState(time=t, converged=True, pcc_p_kw=0, pcc_q_kvar=0, losses_kw=0,
                     losses_kvar=0, v_min_pu=1, v_max_pu=1, ansi_a_violations=0,
                     ansi_b_violations=0, node_names=[], v_pu=[], line_names=[],
                     line_loading_pct=[], tap_names=["reg1a", "reg1b", "reg1c"],
                     taps=[8, 8, 8], bus_p_kw={})


@pytest.fixture
def operator() -> MarketOperator:
    cfg = MarketConfig(feeder="ieee123", primary_period="15min", secondary_period="5min",
                       background_load="none", primary=PrimaryConfig(voltage_cost=50.0))
    return MarketOperator(cfg)


def test_primary_and_secondary_clearing_produce_consistent_setpoints(operator):
    op = operator
    assert len(op.smos) == 85
    op.on_grid(grid_state(0.0))
    assert op.primary.tap[0] == pytest.approx(1.05)  # measured regulator taps are used
    for b in bids_for(op, 0.0):
        op.on_bid(b)
    out = op.clear(0.0)
    assert out.prices is not None and len(out.prices.dlmp) == op.net.n
    assert out.metrics is not None and out.metrics.exact
    assert len(out.setpoints) == 85
    by_smo = {d.smo: d for d in out.dispatch[0].smos}
    for sp in out.setpoints:
        assert len(sp.agents) == len(sp.agent_p_kw) == len(sp.agent_q_kvar) == 3
        assert sum(sp.agent_p_kw) == pytest.approx(sp.p_kw, abs=1e-4)
        # the secondary market delivers the primary market's setpoint
        assert sp.p_kw == pytest.approx(by_smo[sp.smo].p_kw, abs=1e-4)
        assert sp.period_start == 60.0
        assert sp.price == pytest.approx(by_smo[sp.smo].price)
    assert out.metrics.curtailment_kw > 0
    assert out.metrics.welfare > 0  # the market beats serving every baseline from the PCC
    assert out.schedule is not None and out.schedule.p_kw == pytest.approx(
        out.metrics.pcc_p_kw)


def test_secondary_only_clearing_keeps_primary_adjustment(operator):
    op = operator
    op.on_grid(grid_state(0.0))
    for b in bids_for(op, 0.0):
        op.on_bid(b)
    first = {sp.smo: sp.p_kw for sp in op.clear(0.0).setpoints}
    adjust = dict(op.adjust)
    for b in bids_for(op, 300.0, scale=1.25):
        op.on_bid(b)
    out = op.clear(300.0)
    assert out.prices is None and out.metrics is None  # not a primary time
    assert len(out.setpoints) == 85 and out.schedule is not None
    for sp in out.setpoints:
        p0 = op.bids[sp.smo].p0_kw
        p_min = op.bids[sp.smo].p_min_kw
        assert sp.p_kw == pytest.approx(max(p0 + adjust[sp.smo], p_min), abs=1e-3)
        assert sp.period_start == 360.0
    assert sum(first.values()) != pytest.approx(sum(sp.p_kw for sp in out.setpoints))


def test_coefficient_update_shifts_curtailment_to_reweighted_smo(operator):
    op = operator
    op.on_grid(grid_state(0.0))
    for b in bids_for(op, 0.0):
        op.on_bid(b)
    smo = "65"
    base = {sp.smo: sp.p_kw for sp in op.clear(0.0).setpoints}
    op.on_coefficients(CoefficientUpdate(
        time=0.0, agents=[AgentCoefficients(agent=smo, alpha=1.0, beta=0.25)], xi=1.0,
        relative=True))
    after = {sp.smo: sp.p_kw for sp in op.clear(900.0).setpoints}
    assert after[smo] < base[smo] - 1.0  # cheaper disutility: more curtailment there
    op.on_coefficients(CoefficientUpdate(time=0.0, agents=[], xi=1.0, relative=True))


def test_commitment_and_resilience_scores_move_flexibility_between_houses(operator):
    op = operator
    op.on_grid(grid_state(0.0))
    for b in bids_for(op, 0.0):
        op.on_bid(b)
    out = op.clear(0.0)
    # an SMO cleared well inside its range: at a bound every house sits at its own bound and
    # no score can move flexibility between them

    def inside(s) -> bool:
        b = op.bids[s.smo]
        return 0.2 < (s.p_kw - b.p_min_kw) / (b.p_max_kw - b.p_min_kw) < 0.8

    sp = next(s for s in out.setpoints if inside(s))
    smo = sp.smo
    p0 = op.bids[smo].agent_p0_kw[0]
    curtail0 = [p0 - p for p in sp.agent_p_kw]
    assert curtail0[0] == pytest.approx(curtail0[2], rel=1e-3)
    # house 0 misses its schedule repeatedly, house 2 has a low resilience score
    for _ in range(10):
        op.on_response(Response(time=0.0, smo=smo, scheduled_kw=0.0, achieved_kw=0.0,
                                agents=[f"{smo}_h0"], agent_scheduled_kw=[sp.agent_p_kw[0]],
                                agent_achieved_kw=[sp.agent_p_kw[0] + 5.0]))
    op.on_house_scores(HouseScores(time=0.0, houses=[
        AgentScore(agent=f"{smo}_h2", trust=0.5, commitment=1.0, resilience=0.5)]))
    sp = next(s for s in op.clear(300.0).setpoints if s.smo == smo)
    curtail = [p0 - p for p in sp.agent_p_kw]
    assert curtail[1] > curtail[2] > curtail[0]


def test_autowire():
    ctx = ScenarioContext(scenario="s", feeder="ieee123", seed=1, duration_s=3600,
                          period_s=60, federates={"g": "grid", "houses": "iot",
                                                  "rm": "resilience", "market": "market"},
                          output_dir="/tmp")
    cfg = MarketFederate.autowire("market", MarketConfig(), ctx)
    assert cfg.feeder == "ieee123" and cfg.iot_federates == ["houses"]
    assert cfg.grid_state_key == "g/state" and cfg.resilience_federates == ["rm"]
    itf = MarketFederate.interfaces(RuntimeConfig(name="market"), cfg)
    assert {s.key for s in itf.subscriptions} == {"g/state", "rm/house_scores"}
    assert {e.port for e in itf.endpoints} == {"bids", "coefficients"}


def test_time_of_use_import_price_sets_the_energy_price():
    tou = [0.05] * 16 + [0.20] * 5 + [0.05] * 3
    cfg = MarketConfig(feeder="ieee123", background_load="none",
                       primary=PrimaryConfig(import_price_by_hour=tou))
    op = MarketOperator(cfg)
    for b in bids_for(op, 0.0):
        op.on_bid(b)
    night, peak = op.clear(0.0), op.clear(17 * 3600.0)
    assert night.prices.dlmp[0] == pytest.approx(0.05, abs=1e-6)
    assert peak.prices.dlmp[0] == pytest.approx(0.20, abs=1e-6)
    assert peak.metrics.pcc_p_kw < night.metrics.pcc_p_kw - 50.0  # dearer: more flexibility


def test_agents_without_a_bid_stay_out_of_the_reused_secondary_problem():
    """The secondary problem holds every agent seen so far; an agent that bids no longer
    (here one house of every SMO) gets no setpoint, and the others get what a freshly built
    operator that never saw it allocates."""
    def cfg() -> MarketConfig:
        return MarketConfig(feeder="ieee123", primary_period="5min", secondary_period="5min",
                            background_load="none", primary=PrimaryConfig(voltage_cost=50.0))

    def fewer(bids: list[FlexibilityBid]) -> list[FlexibilityBid]:
        return [b.model_copy(update={c: getattr(b, c)[1:] for c in ("agents", *b.COLUMNS)})
                for b in bids]

    seen, fresh = MarketOperator(cfg()), MarketOperator(cfg())
    for b in bids_for(seen, 0.0):
        seen.on_bid(b)
    seen.clear(0.0)
    problem = seen._secondary
    for op in (seen, fresh):
        for b in fewer(bids_for(op, 300.0, scale=1.1)):
            op.on_bid(b)
    a, b = seen.clear(300.0), fresh.clear(300.0)
    assert seen._secondary is problem  # not rebuilt for a smaller set of agents
    assert len(seen._universe_pos) == 3 * 85 and len(fresh._universe_pos) == 2 * 85
    got = {x: p for sp in a.setpoints for x, p in zip(sp.agents, sp.agent_p_kw, strict=True)}
    want = {x: p for sp in b.setpoints for x, p in zip(sp.agents, sp.agent_p_kw, strict=True)}
    assert set(got) == set(want) and not any(k.endswith("_h0") for k in got)
    for k in want:
        assert got[k] == pytest.approx(want[k], abs=1e-3)


def test_loss_factor_xi_from_the_manager_reaches_the_clearing():
    """The manager's xi scales the losses penalty (relative) or replaces it (absolute): a
    dearer loss gives a clearing with fewer losses, and both forms of the same value agree."""
    def cleared(update: CoefficientUpdate | None):
        cfg = MarketConfig(feeder="ieee123", primary_period="15min", secondary_period="5min",
                           background_load="none", primary=PrimaryConfig(voltage_cost=50.0))
        op = MarketOperator(cfg)
        op.on_grid(grid_state(0.0))
        if update is not None:
            op.on_coefficients(update)
        for b in bids_for(op, 0.0):
            op.on_bid(b)
        return op.clear(0.0)

    base = cleared(None)
    xi0 = PrimaryConfig().xi
    dear = cleared(CoefficientUpdate(time=0.0, agents=[], xi=50.0, relative=True))
    same = cleared(CoefficientUpdate(time=0.0, agents=[], xi=50.0 * xi0, relative=False))
    assert dear.metrics.losses_kw < base.metrics.losses_kw - 0.5
    assert dear.metrics.total_cost > base.metrics.total_cost
    assert dear.metrics.losses_kw == pytest.approx(same.metrics.losses_kw, rel=1e-6)
    assert [s.p_kw for s in dear.setpoints] == pytest.approx([s.p_kw for s in same.setpoints],
                                                             abs=1e-4)
