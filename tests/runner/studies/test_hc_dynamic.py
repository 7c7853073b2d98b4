"""Hosting capacity, dynamic part: the coordinated dispatch and its OpenDSS acceptance."""

from __future__ import annotations

import numpy as np
import opendssdirect as dss
import pytest

from runner.studies.hosting_capacity import Config
from runner.studies.hosting_capacity.devices import (
    ev_home,
    soc_path,
    static_injections,
    thermal_coefficients,
)
from runner.studies.hosting_capacity.dispatch import solve_dispatch
from runner.studies.hosting_capacity.lindistflow import balanced_lindistflow
from runner.studies.hosting_capacity.montecarlo import setup
from runner.studies.hosting_capacity.search import dynamic_hc, static_hc

SMALL = dict(feeder="ieee13", peak_load_kva=None, pv_cap_kw=400, pv_step_kw=(30, 400),
             samples=0)


@pytest.fixture(scope="module")
def day_case():
    """Full day at 1-h steps: every device window (EV away, midday battery) is present."""
    cfg = Config(**SMALL, step_min=60)
    ctx, _, _, day, place = setup(cfg, seed=2)
    dev = static_injections(cfg, place, day)
    ctx.dss.run_baseline(day, dev.total)
    level = 3
    pv = place.pv_kw(level)
    ref_p = dev.total + day.pv_avail * pv[None, :]
    ref = ctx.dss.run_day(day, ref_p, stop_at_violation=False, powers=True)
    d = solve_dispatch(cfg, place, day, pv, ctx.sens, ref_p, np.zeros_like(ref_p), ref,
                       ctx.dss.limits, ctx.dss.monitored)
    return cfg, ctx, day, place, pv, d


def test_dispatch_respects_every_device_limit(day_case) -> None:
    cfg, _, day, place, pv, d = day_case
    assert d.ok, d.status
    tol = 1e-5
    dt = cfg.dt_h
    for b in np.flatnonzero(place.bs_kw > 0):
        assert np.all(np.abs(d.bs_kw[:, b]) <= place.bs_kw[b] * (1 + tol))
        soc = soc_path(d.bs_kw[:, b], place.bs_kwh[b], cfg.soc_init, cfg.eta, dt)
        np.testing.assert_allclose(soc, d.bs_soc[:, b], atol=1e-5)
        assert soc[-1] == pytest.approx(cfg.soc_init, abs=1e-5)  # cyclic
        assert soc.min() >= cfg.soc_min - tol and soc.max() <= cfg.soc_max + tol
    home = ev_home(cfg, day.hours)
    arrival = int(np.flatnonzero(home & ~np.roll(home, 1))[0])
    for b in np.flatnonzero(place.ev_units > 0):
        p = d.ev_kw[:, b]
        assert np.all(np.abs(p[~home]) <= tol)  # away 09:00-17:00
        assert np.all(p <= tol)  # V1G
        assert np.all(p >= -place.ev_units[b] * cfg.ev_rated_kw * (1 + tol))
        assert d.ev_soc[arrival, b] == pytest.approx(cfg.soc_init, abs=1e-5)
        assert d.ev_soc[0, b] == pytest.approx(d.ev_soc[-1, b], abs=1e-5)
    theta, rho = thermal_coefficients(cfg)
    for b in np.flatnonzero(place.hp_units > 0):
        c = -d.hp_kw[:, b] / place.hp_units[b]
        assert np.all(c >= -tol) and np.all(c <= cfg.hp_rated_kw + tol)
        t_in = [cfg.t_set_c]
        for t in range(len(c)):  # independent replay of the thermal model
            t_in.append(theta * t_in[-1] + (1 - theta) * (day.t_out_c[t] - rho * c[t]))
        t_in = np.array(t_in)
        np.testing.assert_allclose(t_in, d.t_in[:, b], atol=1e-4)
        assert np.all(np.abs(t_in - cfg.t_set_c) <= cfg.t_band_c + 1e-4)
    avail = day.pv_avail * pv[None, :]
    assert np.all(d.pv_kw >= -tol) and np.all(d.pv_kw <= avail + tol)
    assert (avail - d.pv_kw).sum() <= cfg.curtail_max * avail.sum() + 1e-6
    tanphi = np.tan(np.arccos(cfg.pv_pf_min))
    assert np.all(np.abs(d.pv_q_kvar) <= tanphi * d.pv_kw + 1e-4)


def test_accepted_level_agrees_with_opendss() -> None:
    cfg = Config(**SMALL, start_h=10, horizon_h=4)
    ctx, _, _, day, place = setup(cfg, seed=1)
    res = dynamic_hc(ctx, place, day)
    assert res.level > 0 and res.dispatch is not None
    p, q = res.dispatch.injections()
    replay = ctx.dss.run_day(day, p, q, stop_at_violation=False)
    lim, mon = ctx.dss.limits, ctx.dss.monitored
    assert replay.feasible
    assert np.all(replay.v_max[:, mon] <= lim.v_max[mon] + 1e-6)
    assert np.all(replay.loading <= lim.loading + 1e-4)
    gap = np.abs(res.dispatch.v_max_model[:, mon] - replay.v_max[:, mon]).max()
    accepted = [c for c in res.checks if c.level == res.level][0]
    assert gap == pytest.approx(accepted.gap_v_pu)
    assert gap < 0.02  # balanced linear model against three-phase OpenDSS


def test_dynamic_hc_is_at_least_static_on_the_same_sample() -> None:
    cfg = Config(**SMALL, start_h=10, horizon_h=4)
    for seed in (1, 4):
        ctx, _, sday, dday, place = setup(cfg, seed=seed)
        st = static_hc(ctx, place, sday)
        dy = dynamic_hc(ctx, place, dday)
        assert dy.level >= st.level


def test_balanced_sensitivity_matches_opendss_finite_difference() -> None:
    cfg = Config(**SMALL, start_h=12, horizon_h=0.25, regulators="locked")
    ctx, _, day, _, _ = setup(cfg, seed=0)
    net, bus = ctx.net, "675"
    j = net.bus_index[bus]
    dvp, _ = balanced_lindistflow(net).voltage_sensitivities()
    vals = []
    for kw in (0.0, 200.0):
        inj = np.zeros((1, net.n_buses))
        inj[0, j] = kw
        ctx.dss.run_day(day, inj, stop_at_violation=False)
        dss.Circuit.SetActiveBus(bus)
        vals.append(np.mean(dss.Bus.puVmagAngle()[0::2]))
    measured = (vals[1] - vals[0]) / 200.0
    assert dvp[j, j] == pytest.approx(measured, rel=0.3)
