"""The ICNN-as-LP (24) against the forward pass and the exact MILP (Theorem 1)."""

import highspy
import numpy as np
import pytest

from federates.doe.case import IEEE13
from federates.doe.embed import EnvelopeLP, model_objective, solve_milp
from federates.doe.surrogates import SurrogateSet, file_hash

W, LIM = IEEE13.weights, IEEE13.limits


def _x(trained, t, p):
    s = trained.series
    q_der = np.array([d.q_kvar for d in IEEE13.ders])
    return np.concatenate([s.p_load[t], s.q_load[t], p, q_der])


def test_lp_at_a_fixed_point_equals_the_forward_pass(trained):
    """Exact inference (8): with the DERs fixed, the LP optimum is the forward pass and
    every LP neuron lies on or above its ReLU value."""
    lp = EnvelopeLP(trained.icnn, trained.der_cols, W, "upper")
    rng = np.random.default_rng(2)
    lo, hi = IEEE13.p_bounds()
    for k in range(30):
        t = k % len(trained.series)
        p = rng.uniform(lo, hi)
        x = _x(trained, t, p)
        sol = lp.solve(x, p, p, LIM)
        fwd = model_objective(trained.icnn, x, trained.der_cols, p, p, LIM, W, "upper")["J"]
        assert sol.objective == pytest.approx(fwd, rel=1e-7, abs=1e-7)
        for m, net in trained.icnn.nets.items():
            _, zs = net.forward(x, hidden=True)
            for z_lp, z_fwd in zip(sol.z[m], zs, strict=True):
                assert np.all(z_lp >= z_fwd - 1e-7 * np.maximum(1, np.abs(z_fwd)))


@pytest.mark.parametrize("study", ["upper", "lower"])
def test_b1_lp_objective_equals_b2_milp_on_several_intervals(trained, study):
    lp = EnvelopeLP(trained.icnn, trained.der_cols, W, study)
    full = EnvelopeLP(trained.icnn, trained.der_cols, W, study, prune=False)
    s = trained.series
    binding = 0
    for t in range(0, len(s), 4):
        x = _x(trained, t, s.p_hi[t])
        b1 = lp.solve(x, s.p_lo[t], s.p_hi[t], LIM)
        b2 = solve_milp(trained.icnn, trained.der_cols, x, s.p_lo[t], s.p_hi[t], LIM, W, study)
        assert b1.status == "Optimal" and b2.status == "Optimal"
        assert abs(b1.objective - b2.objective) <= 1e-6 * max(1.0, abs(b1.objective))
        unpruned = full.solve(x, s.p_lo[t], s.p_hi[t], LIM)
        assert abs(unpruned.objective - b1.objective) <= 1e-6 * max(1.0, abs(b1.objective))
        xs = _x(trained, t, b1.p)
        fwd = model_objective(trained.icnn, xs, trained.der_cols, s.p_lo[t], s.p_hi[t], LIM,
                              W, study)["J"]
        assert fwd == pytest.approx(b1.objective, rel=1e-6)
        for m, net in trained.icnn.nets.items():
            _, zs = net.forward(xs, hidden=True)
            for z_lp, z_fwd in zip(b1.z[m], zs, strict=True):
                assert np.all(z_lp >= z_fwd - 1e-7 * np.maximum(1, np.abs(z_fwd)))
        binding += int(model_objective(trained.icnn, x, trained.der_cols, s.p_lo[t],
                                       s.p_hi[t], LIM, W, study)["J_V"] > 0)
    assert binding > 0, "no interval exercised a penalty"


def test_b1_has_no_integer_variables_and_rejects_non_convex_networks(trained):
    lp = EnvelopeLP(trained.icnn, trained.der_cols, W, "upper")
    integrality = lp.h.getLp().integrality_
    assert all(v == highspy.HighsVarType.kContinuous for v in integrality)
    bad = {m: n for m, n in trained.icnn.nets.items()}
    v = bad["V"]
    wz = [w.copy() for w in v.wz]
    wz[0][0, 0] = -1.0
    bad["V"] = type(v)(v.wx, wz, v.b, True)
    with pytest.raises(ValueError, match="Wz >= 0"):
        EnvelopeLP(SurrogateSet(bad, trained.icnn.v_names, trained.icnn.i_names),
                   trained.der_cols, W, "upper")


def test_hard_lp_objective_equals_soft_lp_where_feasible(trained):
    """Exact penalty: where s = 0 is feasible, the soft LP finds the same optimum."""
    s = trained.series
    feasible = 0
    for study in ("upper", "lower"):
        lp = EnvelopeLP(trained.icnn, trained.der_cols, W, study)
        for t in range(len(s)):
            x = _x(trained, t, s.p_hi[t])
            hard = lp.solve(x, s.p_lo[t], s.p_hi[t], LIM, hard=True)
            soft = lp.solve(x, s.p_lo[t], s.p_hi[t], LIM)
            if hard.status != "Optimal":
                continue
            feasible += 1
            assert soft.objective == pytest.approx(hard.objective, rel=1e-7, abs=1e-6)
    assert feasible > len(s)  # most intervals of both studies


def test_new_limits_need_no_retraining(trained):
    """Tighter limits with the same weight file: no objective decreases, some DOE moves."""
    sset = SurrogateSet.load(trained.path)
    before = file_hash(trained.path.with_suffix(".npz"))
    tight = LIM.with_(v_max_pu=LIM.v_max_pu - 0.01, i_max_a=0.9 * LIM.i_max_a)
    s, moved = trained.series, 0
    for study in ("upper", "lower"):
        lp = EnvelopeLP(sset, trained.der_cols, W, study)
        for t in range(len(s)):
            x = _x(trained, t, s.p_hi[t])
            a = lp.solve(x, s.p_lo[t], s.p_hi[t], LIM)
            b = lp.solve(x, s.p_lo[t], s.p_hi[t], tight)
            assert b.objective >= a.objective - 1e-6 * max(1.0, abs(a.objective))
            moved += int(np.abs(a.p - b.p).max() > 1.0)
    assert moved > 0
    assert file_hash(trained.path.with_suffix(".npz")) == before
