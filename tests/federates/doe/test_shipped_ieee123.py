"""The shipped IEEE 123 ICNN weights: versioned artefact, convexity, accuracy on fresh
OpenDSS snapshots, and the LP at a fixed point equal to the forward pass."""

from pathlib import Path

import numpy as np
import pytest

import federates.doe
from federates.doe import profiles
from federates.doe import surrogates as S
from federates.doe.case import IEEE123
from federates.doe.dataset import LoadBox, OutputMap, generate
from federates.doe.embed import EnvelopeLP, model_objective
from federates.doe.snapshot import Snapshotter
from federates.doe.train import nmae

WEIGHTS = Path(federates.doe.__file__).parent / "data" / "icnn_ieee123.npz"


@pytest.fixture(scope="module")
def shipped():
    sset = S.SurrogateSet.load(WEIGHTS)
    snap = Snapshotter(IEEE123, taps=sset.meta["taps"])
    return sset, snap


def test_weight_file_matches_its_metadata_and_is_convex(shipped):
    sset, _ = shipped
    assert sset.meta["weights_sha256"] == S.file_hash(WEIGHTS)
    assert sset.meta["seed"] == 2 and sset.meta["config"]["feeder"] == "ieee123"
    assert sset.meta["config"]["taps"] == "regulated"
    assert {m: n.widths for m, n in sset.nets.items()} == S.WIDTHS
    assert all(n.convex and n.min_wz() >= 0.0 for n in sset.nets.values())


def test_outputs_match_the_feeder_and_fresh_snapshots(shipped):
    sset, snap = shipped
    omap = OutputMap.retrenched(snap)
    assert sset.v_names == omap.v_names and sset.i_names == omap.i_names
    # the study's pipeline: calibrate at the published taps, then regulate at the mean load
    fresh = Snapshotter(IEEE123)
    m_peak = profiles.calibrate_peak(fresh, 0.9 * IEEE123.limits.i_max_a)
    series = profiles.build(fresh, 960, m_peak, seed=2)
    assert fresh.regulate(float(series.m.mean())) == sset.meta["taps"]
    snap.ensure_active()
    box = LoadBox.from_multipliers(series.m.min(), series.m.max())
    data = generate(snap, omap, box, 300, seed=99)  # not the training seed
    y = S.targets(data.y)
    bases = S.nmae_bases(IEEE123.limits, IEEE123.s_base_kva)
    goal = {"L": 1e-3, "V": 1e-3, "I": 5e-3, "P": 1e-3}  # about 3x the seed's Table II
    for m, net in sset.nets.items():
        assert nmae(net, data.x, y[m], bases[m]) <= goal[m], m


def test_lp_at_a_fixed_point_equals_the_forward_pass(shipped):
    sset, snap = shipped
    nl = len(snap.base_p_kw)
    d = np.arange(2 * nl, 2 * nl + 2)
    p = np.array([400.0, -250.0])
    x = np.concatenate([0.5 * snap.base_p_kw, 0.5 * snap.base_q_kvar, p, [80.0, 0.0]])
    lp = EnvelopeLP(sset, d, IEEE123.weights, "upper")
    sol = lp.solve(x, p, p, IEEE123.limits)
    fwd = model_objective(sset, x, d, p, p, IEEE123.limits, IEEE123.weights, "upper")["J"]
    assert sol.objective == pytest.approx(fwd, rel=1e-7)
