"""Attack schedule: validation, target selection and command/link edges."""

import pytest
from pydantic import ValidationError

from federates.attacker.schedule import (
    AttackPlan,
    AttackSchedule,
    AttackSpec,
    FeederData,
    most_vulnerable,
    parse_seconds,
    resolve,
)
from federates.messages import AttackType

DATA = FeederData(
    buses=["1", "2", "3", "4"],
    generation_kw={"1": 10.0, "2": 50.0, "3": 30.0, "4": 0.0},
    load_kw={"1": 40.0, "2": 5.0, "3": 20.0, "4": 25.0},
    agents={"1": ["h1", "h2"], "2": ["h3"], "3": ["h4", "h5", "h6"], "4": []},
)


def spec(**kw) -> AttackSpec:
    base = {"start": 600, "type": "DG", "scale_kw": 60.0}
    return AttackSpec.model_validate(base | kw)


def test_parse_seconds():
    assert parse_seconds(90) == 90.0
    assert parse_seconds("15min") == 900.0
    assert parse_seconds("2h") == 7200.0
    assert parse_seconds("1.5 h") == 5400.0
    with pytest.raises(ValueError):
        parse_seconds("soon")


def test_validation_errors_name_the_problem():
    with pytest.raises(ValidationError, match="end"):
        spec(end=100)
    with pytest.raises(ValidationError, match="unique"):
        AttackSchedule.model_validate({"attacks": [{"start": 0, "type": "LA", "scale_kw": 1},
                                                   {"start": 5, "type": "LA", "scale_kw": 1}]})
    with pytest.raises(ValidationError, match="type"):
        spec(type="XX")


def test_most_vulnerable_covers_scale_in_capacity_order():
    assert most_vulnerable(DATA.generation_kw, 60.0) == ["2", "3"]
    assert most_vulnerable(DATA.generation_kw, 60.0, count=3) == ["2", "3", "1"]
    assert most_vulnerable(DATA.load_kw, 30.0) == ["1"]
    r = resolve(spec(targets={"mode": "most_vulnerable"}), DATA)
    assert r.buses == ("2", "3") and r.agents == ()
    r = resolve(spec(type="LA", targets={"mode": "most_vulnerable"}, scale_kw=50), DATA)
    assert r.buses == ("1", "4")


def test_random_share_is_seeded():
    a = resolve(spec(surface="SMA", targets={"mode": "random_share", "share": 0.5,
                                              "seed": 3}), DATA)
    b = resolve(spec(surface="SMA", targets={"mode": "random_share", "share": 0.5,
                                              "seed": 3}), DATA)
    assert a == b and len(a.agents) == 3
    assert set(a.buses) == {bus for bus, hs in DATA.agents.items() if set(hs) & set(a.agents)}
    p = resolve(spec(targets={"mode": "random_share", "share": 0.5, "seed": 1}), DATA)
    assert len(p.buses) == 2 and set(p.buses) <= set(DATA.buses)


def test_sma_bus_targets_expand_to_houses_and_unknown_buses_fail():
    r = resolve(spec(surface="SMA", targets={"buses": ["3"]}), DATA)
    assert r.agents == ("h4", "h5", "h6") and r.buses == ("3",)
    r = resolve(spec(surface="SMA", targets={"mode": "agents", "agents": ["h5", "h1"]}), DATA)
    assert r.buses == ("3", "1")
    with pytest.raises(ValueError, match="unknown buses"):
        resolve(spec(targets={"buses": ["99"]}), DATA)


def test_commands_on_edges_and_links():
    sched = AttackSchedule(attacks=[
        spec(id="dg", start="10min", end="20min", targets={"buses": ["2", "3"]},
             comm_cut=True),
        spec(id="la", type="LA", start=900, scale_kw=36, targets={"buses": ["1"]},
             comm_delay_s=30),
    ])
    plan = AttackPlan.build(sched, DATA)
    assert plan.commands(None, 0.0) == []
    assert plan.commands(0.0, 540.0) == []
    (start,) = plan.commands(540.0, 600.0)
    assert (start.action, start.attack_id, start.buses, start.type) == (
        "start", "dg", ["2", "3"], AttackType.DISTRIBUTED_GENERATION)
    assert start.scale_kw == 60.0
    assert [c.action for c in plan.commands(840.0, 900.0)] == ["start"]
    cmds = plan.commands(1140.0, 1200.0)
    assert [(c.attack_id, c.action) for c in cmds] == [("dg", "stop")]
    assert plan.commands(None, 1200.0)[0].attack_id == "la"  # open-ended attack still on
    links = plan.links(960.0)
    assert links.cut_buses == {"2", "3"} and links.delay_buses == {"1": 30.0}
    assert plan.links(1200.0).cut_buses == set()
    assert plan.all_link_targets() == (["2", "3", "1"], [])
