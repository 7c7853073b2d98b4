"""The vectorised per-step paths of the Coordinator give the same payloads and device
targets, bit for bit, as the one-SMO-at-a-time / pydantic definitions."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd

from federates.common.weather import builtin
from federates.iot.agents import Coordinator
from federates.iot.flex import Range, split, split_groups
from federates.iot.model import PopulationModel
from federates.iot.population import build
from federates.iot.spec import PopulationSpec
from federates.messages import FlexibilityBid, Response, Setpoint, Telemetry

LOADS = pd.DataFrame({"bus": ["1", "2", "3", "4"], "nodes": ["1", "2", "1.2.3", "3"],
                      "kw": [60.0, 40.0, 150.0, 30.0], "kvar": [30.0, 20.0, 90.0, 10.0]})
DT = 60.0
DISP = ("disp_hvac", "disp_wh", "disp_pv", "disp_bat", "disp_ev", "disp_pv_q", "disp_bat_q",
        "disp_cooling", "disp_hp_max", "disp_until")


def coordinator(loads: pd.DataFrame = LOADS, houses: int = 60, seed: int = 2,
                warm_steps: int = 60) -> tuple[Coordinator, float]:
    """A mixed population (all device kinds) stepped `warm_steps` minutes from noon, and the
    time it has reached."""
    spec = PopulationSpec.model_validate({
        "houses": houses, "waterheater": {"share": 0.5}, "pv": {"share": 0.4},
        "battery": {"share": 0.3}, "ev": {"share": 0.4, "v2g_share": 0.5}})
    m = PopulationModel(build(spec, loads, seed=seed), builtin("summer"), start_time=12 * 3600)
    for k in range(warm_steps):
        m.step(12 * 3600 + k * DT, DT)
    return Coordinator(m, DT, 300.0), 12 * 3600 + warm_steps * DT


def _coordinator() -> tuple[Coordinator, float]:
    return coordinator()


def test_split_groups_matches_split_bit_for_bit():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = rng.integers(1, 30, size=rng.integers(1, 7))
        starts = np.cumsum(np.r_[0, n[:-1]])
        p0 = rng.normal(size=n.sum())
        lo = p0 - rng.uniform(0, 2, len(p0)) * (rng.random(len(p0)) < 0.7)
        hi = p0 + rng.uniform(0, 2, len(p0)) * (rng.random(len(p0)) < 0.7)
        w = rng.uniform(0.1, 1, len(p0))
        targets = np.add.reduceat(p0, starts) + rng.normal(size=len(n)) * rng.choice([0, 1, 50])
        got = split_groups(targets, Range(p0, lo, hi), w, starts)
        ref = np.concatenate([
            split(t, Range(p0[s:s + k], lo[s:s + k], hi[s:s + k]), w[s:s + k])
            for t, s, k in zip(targets, starts, n, strict=True)])
        assert np.array_equal(got, ref)


def _setpoints(c: Coordinator, t0: float) -> list[Setpoint]:
    out = []
    for k, b in enumerate(c.bids(t0, t0)):
        agents = {"agents": b.agents[::2], "agent_p_kw": b.agent_p_min_kw[::2],
                  "agent_q_kvar": b.agent_q_max_kvar[::2]} if k == 1 else {}
        out.append(Setpoint(time=t0, smo=b.smo, period_start=t0, period_end=t0 + 300,
                            p_kw=b.p0_kw + 0.6 * (b.p_min_kw - b.p0_kw),
                            q_kvar=b.q0_kvar + 0.5 * (b.q_max_kvar - b.q0_kvar),
                            **agents))
    out.append(Setpoint(time=t0, smo="nowhere", period_start=t0, period_end=t0 + 300,
                        p_kw=1.0, q_kvar=0.0))
    return out


def test_batched_setpoints_equal_one_by_one_and_payloads_equal_pydantic():
    c, t0 = _coordinator()
    one = copy.deepcopy(c)
    sps = _setpoints(c, t0)
    _setpoints(one, t0)
    assert c.apply_setpoints(sps) == [True] * (len(sps) - 1) + [False]
    assert [one.apply_setpoint(sp) for sp in sps] == [True] * (len(sps) - 1) + [False]
    for attr in DISP:
        assert np.array_equal(getattr(c.model, attr), getattr(one.model, attr),
                              equal_nan=True), attr
    assert np.array_equal(c.scheduled, one.scheduled, equal_nan=True)
    for k in range(3):
        res = c.model.step(t0 + k * DT, DT)
        one.model.step(t0 + k * DT, DT)
        dicts = c.response_dicts(res, 42.0)
        models = [r.model_copy(update={"time": 42.0}) for r in one.after_step(res)]
        assert len(dicts) == len(c.model.pop.smos)
        assert [json.loads(json.dumps(d)) for d in dicts] == \
            [json.loads(r.to_wire()) for r in models]
        assert [Response.model_validate(d) for d in dicts] == models
    tel, ref = c.telemetry_dicts(99.0), one.telemetry(99.0)
    assert [Telemetry.model_validate(d) for d in tel] == ref
    assert [json.loads(json.dumps(d)) for d in tel] == [json.loads(t.to_wire()) for t in ref]


def test_bid_columns_are_the_houses_ranges_in_smo_order():
    """Each bid's agent columns list its SMO's houses (in population order) with their own
    ranges; the wire JSON validates back to the same bid."""
    c, t0 = _coordinator()
    bids = c.bid_dicts(t0, t0)
    f, p = c.flex, c.model.pop
    assert f is not None
    has_gen = f.gen_headroom > 1e-9
    beta = np.broadcast_to(c.beta_per_band / p.comfort_band, (p.n_houses,))
    for s, d in enumerate(bids):
        idx = np.flatnonzero(p.smo_index == s)
        assert d["agents"] == [str(p.agents[i]) for i in idx]
        want = (f.agent.p0, f.agent_q.p0, f.agent.lo, f.agent.hi, f.agent_q.lo, f.agent_q.hi,
                np.where(has_gen, c.alpha_gen, 0.0), beta, f.gen_headroom)
        for col, ref in zip(FlexibilityBid.COLUMNS, want, strict=True):
            assert d[col] == ref[idx].tolist(), col
        bid = FlexibilityBid.model_validate(d)
        assert FlexibilityBid.model_validate_json(json.dumps(d)) == bid
        assert bid.p0_kw == float(f.agent.p0[idx].sum())
    c.agent_detail = False
    assert all("agents" not in d for d in c.bid_dicts(t0, t0))


def test_setpoint_for_every_house_in_order_equals_the_same_in_any_order():
    """The in-order shortcut of apply_setpoints gives the targets of the by-name lookup."""
    c, t0 = _coordinator()
    bids = c.bids(t0, t0)
    other = copy.deepcopy(c)

    def sp(b: FlexibilityBid, order: slice) -> Setpoint:
        return Setpoint(time=t0, smo=b.smo, period_start=t0, period_end=t0 + 300, p_kw=0.0,
                        q_kvar=0.0, agents=b.agents[order],
                        agent_p_kw=[lo + 0.3 * (hi - lo) for lo, hi in zip(
                            b.agent_p_min_kw, b.agent_p_max_kw, strict=True)][order],
                        agent_q_kvar=b.agent_q_max_kvar[order])

    c.apply_setpoints([sp(b, slice(None)) for b in bids])
    other.apply_setpoints([sp(b, slice(None, None, -1)) for b in bids])
    for attr in DISP:
        assert np.array_equal(getattr(c.model, attr), getattr(other.model, attr),
                              equal_nan=True), attr
    assert np.array_equal(c.scheduled, other.scheduled, equal_nan=True)
