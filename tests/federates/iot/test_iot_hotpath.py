"""The per-step shortcuts of the device-population federate give exactly (bit for bit) what
the straightforward numpy / pydantic definitions give."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic_core import to_json

from federates.iot.agents import PCTS, Coordinator, _pct
from federates.iot.federate import injection_dict
from federates.iot.flex import Groups
from federates.iot.model import nan0
from federates.messages import InjectionSet, PopulationSummary
from tests.federates.iot.test_iot_fastpath import coordinator

LOADS = pd.DataFrame({"bus": ["1", "2", "3", "4", "5"], "nodes": ["1", "2", "1.2.3", "3", "1"],
                      "kw": [60.0, 40.0, 150.0, 30.0, 300.0],
                      "kvar": [30.0, 20.0, 90.0, 10.0, 100.0]})
DT = 60.0


def _coordinator() -> tuple[Coordinator, float]:
    return coordinator(LOADS, houses=80, seed=3, warm_steps=30)


def test_pct_equals_np_percentile():
    rng = np.random.default_rng(0)
    for n in [*range(1, 60), 127, 128, 1000, 1008, 4099]:
        for x in (rng.normal(size=n) * 10, rng.integers(0, 3, n).astype(float)):
            assert list(_pct(x).values()) == np.percentile(x, PCTS).tolist()
    x = rng.normal(size=20)
    x[3] = np.nan
    assert all(np.isnan(v) for v in _pct(x).values())
    assert _pct(np.zeros(0)) == {}


def test_group_sums_equal_segment_sums_for_any_leading_shape():
    """Including groups alone in their size class (their gathered rows are not
    C-contiguous when x has leading axes) and empty groups."""
    rng = np.random.default_rng(1)
    sizes = np.array([0, 1, 6, 12, 12, 0, 29, 66, 130, 6])
    starts = np.cumsum(sizes) - sizes
    g = Groups(starts, int(sizes.sum()))
    for lead in [(), (1,), (2,), (6,), (2, 3)]:
        x = rng.normal(size=(*lead, int(sizes.sum()) + 5)) * 100
        x = x[..., rng.permutation(x.shape[-1])[:int(sizes.sum())]]  # shuffled
        got = g.sum(x).reshape(-1, len(sizes))
        ref = np.array([[x.reshape(-1, x.shape[-1])[r, a:a + k].sum()
                         for a, k in zip(starts, sizes, strict=True)]
                        for r in range(int(np.prod(lead)))])
        assert got.shape == (int(np.prod(lead)), len(sizes))
        assert np.array_equal(got, ref)


def test_nan0_equals_nan_to_num():
    x = np.array([1.5, np.nan, np.inf, -np.inf, -0.0, 0.0, -3.0, 1e308])
    got, ref = nan0(x), np.nan_to_num(x)
    assert got.tobytes() == ref.tobytes()


def test_payload_dicts_serialise_like_the_pydantic_models():
    c, t0 = _coordinator()
    res = c.model.step(t0, DT)
    pop = c.model.pop
    for per_phase in (True, False):
        d = injection_dict(pop, res, "houses", per_phase, 60.0)
        assert to_json(d, inf_nan_mode="null").decode() == \
            InjectionSet.model_validate(d).to_wire()
    d = c.summary_dict(res, 120.0)
    ref = c.summary(res).model_copy(update={"time": 120.0})
    assert to_json(d, inf_nan_mode="null").decode() == ref.to_wire()
    assert PopulationSummary.model_validate(d) == ref


def test_conditions_are_shared_read_only_and_dropped_once_stepped_past():
    c, t0 = _coordinator()
    m = c.model
    first = m.conditions(t0 + DT)
    assert m.conditions(t0 + DT) is first and not first.base.flags.writeable
    m.step(t0, DT)
    m.step(t0 + DT, DT)
    m.step(t0 + 2 * DT, DT)
    assert t0 + DT not in m._conditions


def test_bid_and_response_sums_equal_per_smo_sums():
    """SMO totals and beta (over the flexible houses only), and Response sums over the
    active houses only, are each SMO's own numpy sums."""
    c, t0 = _coordinator()
    bids = c.bid_dicts(t0, t0)
    f, p = c.flex, c.model.pop
    assert f is not None
    beta = c.beta_per_band / p.comfort_band
    for s, d in enumerate(bids):
        idx = np.flatnonzero(p.smo_index == s)
        for key, arr in (("p0_kw", f.agent.p0), ("q0_kvar", f.agent_q.p0),
                         ("p_min_kw", f.agent.lo), ("p_max_kw", f.agent.hi),
                         ("q_min_kvar", f.agent_q.lo), ("q_max_kvar", f.agent_q.hi)):
            assert d[key] == float(arr[idx].sum()), key
        flexible = idx[f.agent.hi[idx] - f.agent.lo[idx] > 1e-9]
        want = 1.0 / np.sum(1.0 / beta[flexible]) if len(flexible) else 0.0
        assert d["beta"] == float(want)
    # some houses dispatched, others not: Responses sum only the active ones
    c.model.disp_until[::3] = t0 + 10 * DT
    c.scheduled[:] = f.agent.p0
    res = c.model.step(t0, DT)
    active = res.time < c.model.disp_until
    sched = np.where(active, c.scheduled, np.nan)
    out = c.response_dicts(res, t0)
    assert out
    for d in out:
        s = p.smos.index(d["smo"])
        idx = np.flatnonzero(p.smo_index == s)
        idx = idx[active[idx]]
        assert d["agents"] == [str(p.agents[i]) for i in idx]
        assert d["scheduled_kw"] == float(sched[idx].sum())
        assert d["achieved_kw"] == float(res.house_kw[idx].sum())
