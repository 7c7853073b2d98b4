"""Hosting capacity, static part: OpenDSS day checks, placement, baseline limits."""

from __future__ import annotations

import numpy as np
import opendssdirect as dss
import pytest

import feeders
from runner.studies.hosting_capacity import Config
from runner.studies.hosting_capacity.devices import bs_static_fraction, soc_path
from runner.studies.hosting_capacity.montecarlo import setup
from runner.studies.hosting_capacity.placement import candidate_buses, draw_placement
from runner.studies.hosting_capacity.profiles import Day
from runner.studies.hosting_capacity.search import bisect_last_feasible, static_hc

NOON = dict(feeder="ieee13", peak_load_kva=None, start_h=12.0, horizon_h=0.25,
            regulators="locked", exclude_baseline_violations=False, v_min_pu=0.5,
            loading_max_pct=1e6, samples=0)


def _independent_vmax(bus: str, kw: float) -> float:
    """Highest phase voltage at ``bus`` with a ``kw`` three-phase generator there, from a
    separate compile using OpenDSS Generator elements (not the study's injection loads)."""
    f = feeders.load("ieee13")
    for cmd in f.dss_commands(taps=f.published_taps, lock_controls=True):
        dss.Text.Command(cmd)
    dss.Text.Command(f"New Generator.pv bus1={bus}.1.2.3 phases=3 conn=delta kV=4.16 "
                     f"kW={kw} pf=1 model=1")
    dss.Solution.Solve()
    dss.Circuit.SetActiveBus(bus)
    return float(max(dss.Bus.puVmagAngle()[0::2]))


@pytest.mark.parametrize("margin, feasible", [(+0.002, True), (-0.002, False)])
def test_day_check_just_below_and_above_a_voltage_limit(margin: float, feasible: bool) -> None:
    bus, kw = "675", 1500.0
    v_ref = _independent_vmax(bus, kw)
    # the injected bus is the feeder's highest voltage only if it rose most: use a limit
    # relative to the feeder-wide maximum of the independent solve
    feeder_vmax = float(max(dss.Circuit.AllBusMagPu()))
    cfg = Config(**NOON, v_max_pu=feeder_vmax + margin)
    ctx, _, day, _, _ = setup(cfg, seed=0)
    net = ctx.net
    inj = np.zeros((1, net.n_buses))
    inj[0, net.bus_index[bus]] = kw
    unit = Day(day.hours, day.pv_avail, np.ones_like(day.load_mult), day.t_out_c, day.price)
    res = ctx.dss.run_day(unit, inj)
    assert res.feasible is feasible
    assert res.v_max[0, net.bus_index[bus]] == pytest.approx(v_ref, abs=2e-4)
    if not feasible:
        assert res.first_violation[1] == "v_max"


def test_no_pv_is_feasible_on_every_step_with_baseline_exclusion() -> None:
    cfg = Config(feeder="ieee13", peak_load_kva=None, step_min=60, samples=0)
    ctx, _, day, _, place = setup(cfg, seed=3)
    from runner.studies.hosting_capacity.devices import static_injections
    dev = static_injections(cfg, place, day)
    base = ctx.dss.run_baseline(day, dev.total)
    assert base.converged
    # ieee13 overloads line 650632 at nominal load: excluded, so no PV is feasible
    assert np.nanmax(base.loading) > 100.0
    assert ctx.dss.run_day(day, dev.total).feasible
    assert static_hc(ctx, place, day).level >= 0


def test_bisection_finds_the_last_feasible_level() -> None:
    for threshold in (0, 1, 7, 31, 32):
        calls: list[int] = []

        def check(n: int, thr: int = threshold, seen: list[int] = calls) -> bool:
            seen.append(n)
            return n <= thr

        assert bisect_last_feasible(check, 32) == threshold
        assert len(calls) <= 7


def test_placement_sequence_caps_and_common_random_numbers() -> None:
    cfg = Config(feeder="ieee123", samples=0)
    net = feeders.load("ieee123").network
    a = draw_placement(cfg, net, 2930.0, np.random.default_rng([5, 0]))
    b = draw_placement(cfg, net, 2930.0, np.random.default_rng([5, 0]))
    np.testing.assert_array_equal(a.inc_bus, b.inc_bus)
    full = a.pv_kw(a.n_levels)
    assert full.max() <= cfg.pv_cap_kw + 1e-9
    assert set(a.inc_bus) <= set(candidate_buses(net).tolist())
    assert a.total_kw(a.n_levels) >= cfg.pv_max_share * 2930.0 - 1e-9
    assert np.all(a.inc_kw <= cfg.pv_step_kw[1] + 1e-12)
    # levels only grow: every bus's PV is monotone along the sequence
    assert np.all(a.pv_kw(40) <= a.pv_kw(41) + 1e-12)
    assert a.bs_kw.sum() == pytest.approx(0.05 * 2930.0)
    assert a.hp_units.sum() == 50 and a.ev_units.sum() == 50


def test_uncoordinated_battery_schedule_is_energy_neutral_and_within_soc_bounds() -> None:
    cfg = Config(samples=0)
    hours = np.arange(96) * 0.25
    p = bs_static_fraction(cfg, hours) * 10.0
    soc = soc_path(p, 30.0, cfg.soc_init, cfg.eta, 0.25)
    assert soc[-1] == pytest.approx(soc[0])
    assert soc.min() >= cfg.soc_min and soc.max() <= cfg.soc_max
    assert (p[(hours >= 11) & (hours < 14)] > 0).all()  # discharges at midday


def test_bs_hp_grid_points_are_static_runs_and_cross_difference_is_the_corner_formula() -> None:
    from runner.studies.hosting_capacity.sensitivity import bs_hp_grid, summarise

    cfg = Config(feeder="ieee13", peak_load_kva=None, pv_cap_kw=400, pv_step_kw=(30, 400),
                 start_h=10, horizon_h=4, samples=0, sensitivity_shares=[0.0, 0.2])
    grid = bs_hp_grid(cfg, seed=1)
    assert len(grid) == 8
    one = cfg.model_copy(update={"variant": "nominal", "bs_share": 0.2, "hp_share": 0.0})
    ctx, base, day, _, place = setup(one, seed=1)
    direct = 100 * static_hc(ctx, place, day).pv_kw / base
    row = grid[(grid.variant == "nominal") & (grid.bs_share == 0.2) & (grid.hp_share == 0.0)]
    assert float(row["static_hc_pct"].iloc[0]) == pytest.approx(direct)
    g = grid[grid.variant == "nominal"].set_index(["bs_share", "hp_share"])["static_hc_pct"]
    cross = g[(0.2, 0.2)] - g[(0.2, 0.0)] - g[(0.0, 0.2)] + g[(0.0, 0.0)]
    assert summarise(grid)["nominal"]["cross_difference"] == pytest.approx(cross)
    assert summarise(grid)["nominal"]["slope_bs"] == pytest.approx(
        ((g[(0.2, 0.0)] - g[(0.0, 0.0)]) + (g[(0.2, 0.2)] - g[(0.0, 0.2)])) / 2 / 20)
