"""Recorder model: long-format rows, chunked parts, merge, crash safety."""

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from federates.messages import FlexibilityBid, GridState, Setpoint
from federates.recorder.model import PARTS_DIR, RecorderModel, merge_parts


def state(t: float, p: float) -> GridState:
    return GridState(time=t, converged=True, pcc_p_kw=p, pcc_q_kvar=1.0, losses_kw=2.0,
                     losses_kvar=3.0, v_min_pu=0.97, v_max_pu=1.02, ansi_a_violations=0,
                     ansi_b_violations=0, node_names=["1.1", "1.2"], v_pu=[0.99, 1.01],
                     line_names=["l1"], line_loading_pct=[40.0], tap_names=["reg1"], taps=[3],
                     bus_p_kw={"1": 5.0})


def test_grid_state_rows():
    rows = state(0, 10).rows()
    assert ("pcc_p_kw", "", 10.0) in rows
    assert ("v_pu", "1.2", 1.01) in rows
    assert ("tap", "reg1", 3.0) in rows


def test_generic_rows_of_nested_payload():
    bid = FlexibilityBid(time=0, smo="65", period_start=0, period_end=900, p0_kw=5, q0_kvar=0,
                         p_min_kw=1, p_max_kw=9, q_min_kvar=0, q_max_kvar=0, alpha=1, beta=2,
                         agents=["h1", "h2"], **{c: [0.0, 0.0] for c in FlexibilityBid.COLUMNS}
                         | {"agent_p0_kw": [5, 2], "agent_p_max_kw": [9, 3]})
    rows = bid.rows()
    assert ("p_max_kw", "", 9.0) in rows
    assert ("agents.p_max_kw", "h1", 9.0) in rows and ("agents.p0_kw", "h2", 2.0) in rows
    assert len(rows) == 10 + 2 * len(FlexibilityBid.COLUMNS)  # scalars + one row per cell


def test_chunks_merge_and_crash_loses_at_most_one_chunk(tmp_path):
    rec = RecorderModel(tmp_path, chunk_steps=2)
    for k in range(5):
        rec.add_payload(60.0 * k, "grid/state", state(60.0 * k, 100.0 + k))
        rec.add_vector(60.0 * k, "grid/pcc_power", [100.0 + k, 1.0])
        rec.end_step(60.0 * k)
    # "crash" now: step 4 is still in memory, steps 0..3 are in two complete parts
    parts = sorted((tmp_path / PARTS_DIR).glob("*.parquet"))
    assert len(parts) == 2
    assert all(pq.read_table(p).num_rows > 0 for p in parts)
    merged = merge_parts(tmp_path)
    df = pd.read_parquet(merged)
    assert list(df.columns) == ["time", "signal", "id", "value"]
    p = df[df.signal == "grid.pcc_p_kw"].set_index("time")["value"]
    assert p.to_dict() == {0.0: 100.0, 60.0: 101.0, 120.0: 102.0, 180.0: 103.0}
    vec = df[(df.signal == "grid.pcc_power") & (df.id == "0")]
    assert len(vec) == 4
    assert not (tmp_path / PARTS_DIR).exists()


def test_merged_series_is_sorted_by_time_signal_id(tmp_path):
    rec = RecorderModel(tmp_path, chunk_steps=2)
    for k in reversed(range(3)):  # steps arrive in time order; here signals do not
        t = 60.0 * (2 - k)
        rec.add_vector(t, "z/last", [1.0, 2.0])
        rec.add_payload(t, "grid/state", state(t, 100.0))
        rec.end_step(t)
    rec.flush()
    df = pd.read_parquet(merge_parts(tmp_path))
    keys = list(zip(df.time, df.signal, df.id, strict=True))
    assert keys == sorted(keys) and len(df) == 3 * (len(state(0, 0).rows()) + 2)


def test_parts_not_written_by_the_recorder_are_sorted_when_merged(tmp_path):
    import pyarrow as pa

    from federates.recorder.model import SCHEMA

    parts = tmp_path / PARTS_DIR
    parts.mkdir()
    # two parts in the wrong time order and unsorted inside, without the recorder's mark
    for name, times in (("part-00000", [120.0, 60.0]), ("part-00001", [0.0, 0.0])):
        pq.write_table(pa.table({"time": times, "signal": ["b", "a"], "id": ["", ""],
                                 "value": [1.0, 2.0]}, schema=SCHEMA), parts / f"{name}.parquet")
    df = pd.read_parquet(merge_parts(tmp_path))
    assert list(zip(df.time, df.signal, strict=True)) == [
        (0.0, "a"), (0.0, "b"), (60.0, "a"), (120.0, "b")]


def test_injection_rows_sum_phases_of_one_bus():
    from federates.messages import Injection, InjectionSet

    inj = InjectionSet(source="h", time=0, items=[
        Injection(bus="65", p_kw=1.0, q_kvar=0.5, phases=[1]),
        Injection(bus="65", p_kw=2.0, phases=[2]),
        Injection(bus="48", p_kw=-3.0)])
    rows = inj.rows()
    assert ("p_kw", "65", 3.0) in rows and ("q_kvar", "65", 0.5) in rows
    assert ("p_kw", "48", -3.0) in rows
    assert len({(s, i) for s, i, _ in rows}) == len(rows)


def test_agent_columns_round_trip_and_must_align():
    sp = Setpoint(time=0, smo="65", period_start=0, period_end=300, p_kw=3, q_kvar=0,
                  agents=["h1", "h2"], agent_p_kw=[1.0, 2.0], agent_q_kvar=[0.0, -0.5])
    assert Setpoint.from_wire(sp.to_wire()) == sp
    assert Setpoint.from_wire(Setpoint(time=0, smo="65", period_start=0, period_end=300,
                                       p_kw=3, q_kvar=0).to_wire()).agents == []
    with pytest.raises(ValidationError, match="column 'agent_q_kvar' has 1 entries but "
                       "'agents' has 2"):
        Setpoint(time=0, smo="65", period_start=0, period_end=300, p_kw=3, q_kvar=0,
                 agents=["h1", "h2"], agent_p_kw=[1.0, 2.0], agent_q_kvar=[0.0])
    cols = {c: [1.0] for c in FlexibilityBid.COLUMNS}
    bid = FlexibilityBid(time=0, smo="65", period_start=0, period_end=900, p0_kw=1, q0_kvar=0,
                         p_min_kw=1, p_max_kw=1, q_min_kvar=0, q_max_kvar=0, alpha=0, beta=0,
                         agents=["h1"], **cols)
    assert FlexibilityBid.from_wire(bid.to_wire()) == bid
    wire = bid.to_wire().replace('"agent_gen_max_kw":[1.0]', '"agent_gen_max_kw":[]')
    with pytest.raises(ValidationError, match="FlexibilityBid 65: column 'agent_gen_max_kw'"):
        FlexibilityBid.from_wire(wire)
    # a missing column is the default (empty) and fails the same way
    with pytest.raises(ValidationError, match="column 'agent_beta' has 0 entries"):
        FlexibilityBid(**bid.model_dump(exclude={"agent_beta"}))
