"""Fast paths of the market clearing give exactly what the straightforward code gives."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from federates.market.operator import _dispatch
from federates.market.secondary import CommitmentTracker, SecondaryMarkets
from federates.messages import (
    FlexibilityBid,
    MarketDispatch,
    Response,
    SmoDispatch,
    envelope,
    open_envelope,
)

BID = FlexibilityBid(time=0, smo="1", period_start=0, period_end=300, p0_kw=1, q0_kvar=0,
                     p_min_kw=0, p_max_kw=1, q_min_kvar=0, q_max_kvar=0, alpha=0, beta=0,
                     agents=["a", "b"], agent_p0_kw=[0.5, 0.5], agent_q0_kvar=[0, 0],
                     agent_p_min_kw=[0, 0], agent_p_max_kw=[1, 1], agent_q_min_kvar=[0, 0],
                     agent_q_max_kvar=[0, 0], agent_alpha=[0, 0], agent_beta=[1, 1],
                     agent_gen_max_kw=[0, 0])
RESP = Response(time=0, smo="1", scheduled_kw=1, achieved_kw=0.9, agents=["a"],
                agent_scheduled_kw=[1.0], agent_achieved_kw=[float("nan")])


def variants() -> list[str]:
    bid, resp = json.loads(BID.to_wire()), json.loads(RESP.to_wire())
    escaped = BID.to_wire().replace('"period_start"', '"period\\u005fstart"')
    return [
        BID.to_wire(), RESP.to_wire(), escaped,
        json.dumps({**resp, "smo": "period_start"}),  # a key name as a value
        json.dumps({**resp, "note": 1}),  # unknown key
        json.dumps({k: v for k, v in bid.items() if k != "beta"}),  # missing required key
        json.dumps({**bid, "p0_kw": "x"}),  # wrong value
        json.dumps({**resp, "agents": ["a", "b"]}),  # misaligned columns
        json.dumps({**resp, "smo": 'say "hi"'}),  # escaped quote in a value
        "[1, 2]", "not json", "", '{"time": 1', '"period_start"',
    ]


@pytest.mark.parametrize("raw", variants())
def test_envelope_slicing_gives_back_the_payload_text(raw):
    """The fast path slices the envelope; a JSON parse of the same text must agree."""
    text = envelope("FlexibilityBid", 1, raw)
    opened = open_envelope(text)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None  # raw is not JSON: the envelope is not either
    if parsed is None:
        assert opened is None or opened[2] == raw
    else:
        assert opened == ("FlexibilityBid", 1, raw)
        assert json.loads(opened[2]) == parsed["data"]


def test_deferred_commitment_updates_equal_one_update_each():
    rng = np.random.default_rng(5)
    batches = []
    for k in range(6):
        agents = [f"h{j}" for j in rng.choice(40, 8, replace=False)] + [f"new{k}"]
        sched = rng.uniform(0, 5, len(agents))
        sched[rng.random(len(agents)) < 0.2] = np.nan  # not dispatched this period
        batches.append((agents, sched.tolist(), rng.uniform(0, 5, len(agents)).tolist()))
    for groups in ([batches[:1], batches[1:2]], [batches[2:], batches[:2]]):  # repeats in 2nd
        ref, fast = CommitmentTracker(0.7, 0.4), CommitmentTracker(0.7, 0.4)
        for group in groups:
            for agents, sched, achieved in group:
                s = np.asarray(sched)
                ok = np.isfinite(s)
                ref.update([a for a, k in zip(agents, ok, strict=True) if k], s[ok],
                           np.asarray(achieved)[ok])
                fast.defer(agents, sched, achieved)
            names = sorted(ref.scores) + ["unknown"]
            assert np.array_equal(fast.get(names), ref.get(names))
        assert fast.scores == ref.scores and fast._slot == ref._slot


@pytest.mark.parametrize("grouped", [True, False])
def test_per_smo_sums_are_those_of_the_sparse_product(grouped):
    rng = np.random.default_rng(2)
    smo = rng.integers(0, 9, 200)
    smo = np.sort(smo) if grouped else smo
    sm = SecondaryMarkets(smo, 10)
    G = sp.csr_matrix((np.ones(len(smo)), (smo, np.arange(len(smo)))), shape=(10, len(smo)))
    x = rng.standard_normal(len(smo)) * 10.0 ** rng.uniform(-6, 6, len(smo))
    assert np.array_equal(sm._per_smo(x), G @ x)


def test_dispatch_equals_the_models_built_one_by_one():
    rng = np.random.default_rng(1)
    cols = {k: rng.uniform(0, 10, 3) for k in ("p0_kw", "p_min_kw", "p_max_kw", "p_kw",
                                              "q_kvar", "price")}
    cols["agents"] = np.array([3, 0, 7])
    smos = ["1", "7", "9"]
    got = _dispatch(300, "secondary", smos, cols)
    want = MarketDispatch(time=300, kind="secondary", smos=[
        SmoDispatch(smo=s, **{k: v.tolist()[i] for k, v in cols.items()})
        for i, s in enumerate(smos)])
    assert got == want and got.to_wire() == want.to_wire()
