"""Attacker wrapper pieces without HELICS: autowire, filters to register, ground truth."""

from federates.attacker.config import AttackerConfig
from federates.attacker.federate import (
    AttackerFederate,
    attack_state,
    build_plan,
    filter_specs,
    link_endpoints,
)
from federates.iot.config import IotConfig
from federates.iot.federate import IotFederate
from federates.runtime import RunFacts, RuntimeConfig, ScenarioContext

CONTEXT = ScenarioContext(scenario="t", feeder="ieee123", seed=0, duration_s=7200,
                          period_s=60, output_dir="/tmp",
                          federates={"houses": "iot", "grid": "grid", "att": "attacker"})


def config(**attack) -> AttackerConfig:
    base = {"id": "x", "start": 600, "end": 1200, "type": "DG", "scale_kw": 100.0}
    return AttackerConfig.model_validate({"attacks": [base | attack]})


def test_autowire_finds_the_device_federate_and_its_population():
    cfg = AttackerFederate.autowire("att", config(targets={"mode": "most_vulnerable"}).model_copy(
        update={"use_population": True}), CONTEXT)
    assert cfg.iot_federate == "houses" and cfg.attack_endpoint == "houses/attack"
    assert cfg.feeder_data.buses == []  # filled from the population's stated facts
    houses = IotFederate.autowire("houses", IotConfig(), CONTEXT)
    facts = RunFacts({"houses": IotFederate.run_facts("houses", houses),
                      "att": AttackerFederate.run_facts("att", cfg)})
    cfg = AttackerFederate.use_facts("att", cfg, facts)
    data = cfg.feeder_data
    assert len(data.buses) == 85 and sum(len(a) for a in data.agents.values()) == 1008
    # ieee123_der: 880.84 kVA of PV and 865 kW of batteries
    assert abs(sum(data.generation_kw.values()) - (880.84 + 865.0)) < 0.05
    plan = build_plan(cfg)
    (attack,) = plan.attacks
    gen = [data.generation_kw[b] for b in attack.buses]
    assert sum(gen) >= 100.0 and sum(gen[:-1]) < 100.0
    assert gen == sorted(gen, reverse=True)


def test_autowire_without_population_uses_feeder_loads():
    cfg = AttackerFederate.autowire("att", config(), CONTEXT)
    assert "65" in cfg.feeder_data.buses and cfg.feeder_data.load_kw["65"] > 0


def test_filters_per_attacked_bus_and_kind():
    cfg = config(targets={"buses": ["65", "76"]}, comm_cut=True).model_copy(
        update={"iot_federate": "houses"})
    specs = filter_specs("att", cfg)
    assert [(s.name, s.kind, s.targets) for s in specs] == [
        ("att/drop_65", "drop", ["houses/sp_65"]), ("att/drop_76", "drop", ["houses/sp_76"])]
    delayed = config(targets={"buses": ["65"]}, comm_delay_s=30.0)
    assert [s.kind for s in filter_specs("att", delayed)] == ["delay"]
    assert filter_specs("att", config(targets={"buses": ["65"]})) == []
    iface = AttackerFederate.interfaces(RuntimeConfig(name="att"), cfg)
    assert [e.port for e in iface.endpoints] == ["attack"] and len(iface.filters) == 2


def test_house_links_use_their_bus_endpoint_unless_templated():
    cfg = AttackerConfig.model_validate({
        "feeder_data": {"buses": ["1"], "agents": {"1": ["h1"]}}, "iot_federate": "houses"})
    assert link_endpoints(cfg, agent="h1") == ["houses/sp_1"]
    cfg = cfg.model_copy(update={"agent_endpoints": ["{iot}/{agent}"]})
    assert link_endpoints(cfg, agent="h1") == ["houses/h1"]


def test_attack_state_is_the_ground_truth():
    cfg = config(targets={"buses": ["65"]}, comm_cut=True)
    plan = build_plan(cfg)
    on = attack_state(plan, 600.0, plan.links(600.0))
    assert on.active == 1 and on.attacked == {"65": 1.0} and on.cut == {"65": 1.0}
    off = attack_state(plan, 1200.0, plan.links(1200.0))
    assert off.active == 0 and off.attacked == {} and off.cut == {}


def test_population_targets_need_a_device_federate_stating_one():
    cfg = config().model_copy(update={"use_population": True, "iot_federate": "nobody"})
    try:
        AttackerFederate.use_facts("att", cfg, RunFacts({"att": {}}))
    except ValueError as exc:
        assert str(exc).startswith("use_population: federate 'nobody'")
    else:
        raise AssertionError("accepted a population nobody states")


def test_house_targets_must_be_houses_of_the_population():
    houses_cfg = IotFederate.autowire("houses", IotConfig(), CONTEXT)
    facts = RunFacts({"houses": IotFederate.run_facts("houses", houses_cfg)})
    known = IotFederate.run_facts("houses", houses_cfg)["bus_resources"]()["agents"]
    real = next(iter(known.values()))[0]

    def attack(agents):
        return AttackerConfig.model_validate({
            "use_population": True, "iot_federate": "houses",
            "attacks": [{"id": "x", "start": 0, "type": "LA", "scale_kw": 10.0,
                         "surface": "SMA", "targets": {"mode": "agents", "agents": agents}}]})

    assert AttackerFederate.use_facts("att", attack([real]), facts).feeder_data.agents == known
    try:
        AttackerFederate.use_facts("att", attack([real, "no_such_house"]), facts)
    except ValueError as exc:
        assert str(exc).startswith("attacks[0].targets.agents[1]: 'no_such_house' is not a house")
    else:
        raise AssertionError("accepted a house the population does not have")
