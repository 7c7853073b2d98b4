"""Snapshot data: OpenDSS power balance, convergence, series inside the sampled box."""

import numpy as np

from federates.doe.case import IEEE13
from federates.doe.dataset import sample_inputs, split_x


def test_substation_power_balances_loads_ders_and_losses(trained):
    snap = trained.snap
    x = sample_inputs(snap, trained.box, 20, np.random.default_rng(5))
    for row in x:
        p, q, pd, qd = split_x(snap, row)
        m = snap.solve(p, q, pd, qd)
        expected = p.sum() - pd.sum() + m.loss_kw
        assert abs(m.p_sub_kw - expected) <= 1e-4 * abs(expected)


def test_at_most_half_a_percent_of_samples_fail_and_failures_are_counted(trained):
    d = trained.data
    assert d.n_failed <= 0.005 * (len(d.x) + d.n_failed)
    assert len(d.x) + d.n_failed == 5000
    assert all(len(v) == len(d.x) for v in d.y.values())


def test_every_series_interval_lies_inside_the_sampled_box(trained):
    s, snap, box = trained.series, trained.snap, trained.box
    ratio = s.p_load / snap.base_p_kw
    assert ratio.min() >= box.s_min * box.eps[0] and ratio.max() <= box.s_max * box.eps[1]
    lo, hi = IEEE13.p_bounds()
    assert np.all(s.p_lo >= lo - 1e-9) and np.all(s.p_hi <= hi + 1e-9)
    assert np.all(s.p_lo <= s.p_hi)


def test_outputs_follow_the_retrenchment_rule(trained):
    """V only at non-transit buses (loads, DERs, regulator outputs, capacitors); I only on
    lines touching one; P at the monitored lines."""
    om = trained.omap
    v_buses = {n.split(".")[0] for n in om.v_names}
    assert {b.lower() for b in trained.snap.load_bus} <= v_buses
    assert {"680", "675", "rg60"} <= v_buses  # DER buses and the regulator output
    assert not {"684", "633", "632", "sourcebus"} & v_buses  # transit buses and the source
    i_lines = {n.rsplit(".", 1)[0] for n in om.i_names}
    assert "632633" not in i_lines and "671680" in i_lines
    assert trained.data.y["P"].shape[1] == len(IEEE13.monitored_lines)
