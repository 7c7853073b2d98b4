"""B1 envelopes applied in OpenDSS on the small feeder (all nodes, lines, reverse flow)."""

import numpy as np
import pytest

from federates.doe.case import IEEE13
from federates.doe.embed import EnvelopeLP
from federates.doe.validate import check, corners

W, LIM = IEEE13.weights, IEEE13.limits


def _envelopes(trained):
    s = trained.series
    q_der = np.array([d.q_kvar for d in IEEE13.ders])
    out = {}
    for study in ("upper", "lower"):
        lp = EnvelopeLP(trained.icnn, trained.der_cols, W, study)
        out[study] = np.array([
            lp.solve(np.concatenate([s.p_load[t], s.q_load[t], s.p_hi[t], q_der]),
                     s.p_lo[t], s.p_hi[t], LIM).p for t in range(len(s))])
    return out


def test_b1_envelopes_cause_no_violation_in_opendss_where_b0_does(trained):
    s, snap = trained.series, trained.snap
    env = _envelopes(trained)
    b0_violations = 0
    for study, limit in (("upper", s.p_hi), ("lower", s.p_lo)):
        for t in range(len(s)):
            p = env[study][t]
            assert np.all(p >= s.p_lo[t] - 1e-6) and np.all(p <= s.p_hi[t] + 1e-6)
            ck = check(snap, s.p_load[t], s.q_load[t], p, LIM, W)
            assert ck["converged"]
            assert LIM.v_min_pu - 1e-3 <= ck["v_min_pu"] and ck["v_max_pu"] <= LIM.v_max_pu + 1e-3
            assert ck["i_max_a"] <= 1.01 * LIM.i_max_a, (study, t)
            assert ck["p_rev_kw"] <= LIM.p_rev_kw + 1.0, (study, t)
            b0 = check(snap, s.p_load[t], s.q_load[t], limit[t], LIM, W)
            b0_violations += b0["n_V"] + b0["n_I"] + b0["n_P"]
    assert b0_violations > 0, "the case never binds: the test would prove nothing"


def test_envelope_equals_the_forecast_where_the_feeder_is_far_from_its_limits(trained):
    """Spec test 13: with B0 well inside every limit, the DOE is the original limit."""
    s, snap = trained.series, trained.snap
    env = _envelopes(trained)
    slack = 0
    for study, limit in (("upper", s.p_hi), ("lower", s.p_lo)):
        for t in range(len(s)):
            b0 = check(snap, s.p_load[t], s.q_load[t], limit[t], LIM, W)
            if (b0["v_min_pu"] >= LIM.v_min_pu + 0.005 and b0["v_max_pu"] <= LIM.v_max_pu - 0.005
                    and b0["i_max_a"] <= 0.98 * LIM.i_max_a
                    and b0["p_rev_kw"] <= LIM.p_rev_kw - 10.0):
                slack += 1
                assert np.allclose(env[study][t], limit[t], atol=1e-6), (study, t)
    assert slack > 0


def test_corners_cover_every_der_combination(trained):
    s, snap = trained.series, trained.snap
    rows = corners(snap, s.p_load[12], s.q_load[12], s.p_lo[12], s.p_hi[12], LIM, W)
    assert [r["corner"] for r in rows] == ["LL", "LU", "UL", "UU"]
    # the all-upper corner is B0 of the upper study: same OpenDSS losses
    b0 = check(snap, s.p_load[12], s.q_load[12], s.p_hi[12], LIM, W)
    assert rows[-1]["loss_kw"] == pytest.approx(b0["loss_kw"], rel=1e-7)
