"""B3 (balanced LinDistFlow): the locked taps it uses and its envelope range."""

import numpy as np

import feeders
from federates.doe.case import IEEE13
from federates.doe.lindistflow import LinDistFlowEnvelope, _tap_ratios


def test_published_taps_reproduce_the_network_tap_ratios():
    for name in ("ieee13", "ieee123"):
        f = feeders.load(name)
        assert np.allclose(_tap_ratios(f.network, f, f.published_taps), f.network.tap_ratio)


def test_other_taps_change_only_the_regulator_ratios():
    f = feeders.load("ieee123")
    taps = {k: 0 for k in f.published_taps}
    ratio = _tap_ratios(f.network, f, taps)
    reg = np.array([k == "regulator" for k in f.network.branch_kind])
    assert np.allclose(ratio[reg], 1.0)
    assert np.array_equal(ratio[~reg], f.network.tap_ratio[~reg])


def test_envelope_stays_in_the_forecast_range(trained):
    s, snap = trained.series, trained.snap
    for study in ("upper", "lower"):
        b3 = LinDistFlowEnvelope(IEEE13, snap.load_bus, IEEE13.weights, study, snap.taps)
        for t in range(0, len(s), 6):
            sol = b3.solve(s.p_load[t], s.q_load[t], s.p_lo[t], s.p_hi[t], IEEE13.limits)
            assert sol.status == "optimal"
            assert np.all(sol.p >= s.p_lo[t] - 1e-4) and np.all(sol.p <= s.p_hi[t] + 1e-4)
