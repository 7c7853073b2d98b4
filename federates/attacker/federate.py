"""Attacker federate: attack schedule -> AttackCommand messages and HELICS link filters.

At each step (phase 'attacker', first in the step) it sends start/stop `AttackCommand`s to
the device federate's attack endpoint and switches the drop/delay filters on the endpoints
of the attacked buses (or houses), so that messages between them and the market /
resilience manager are really lost or late. It publishes the ground truth `AttackState` on
'<name>/state' for the recorder; no other federate subscribes to it.
"""

from __future__ import annotations

from typing import Any

from federates.attacker.config import AttackerConfig, FeederDataConfig
from federates.attacker.schedule import AttackPlan, AttackSchedule, LinkState
from federates.checks import check_bus
from federates.messages import AttackState
from federates.runtime import (
    PHASES,
    Endpoint,
    FederateWrapper,
    FilterSpec,
    Interfaces,
    Publication,
    RunFacts,
    RuntimeConfig,
    ScenarioContext,
    StepIO,
)


def build_plan(config: AttackerConfig) -> AttackPlan:
    return AttackPlan.build(AttackSchedule(attacks=config.attacks), config.feeder_data.data())


def _owner(config: AttackerConfig) -> dict[str, str]:
    return {a: b for b, agents in config.feeder_data.agents.items() for a in agents}


def link_endpoints(config: AttackerConfig, bus: str | None = None,
                   agent: str | None = None) -> list[str]:
    """Global endpoint names of one bus's or one house's links."""
    iot = config.iot_federate
    if agent is not None:
        owner = _owner(config).get(agent, "")
        if config.agent_endpoints:
            return [t.format(iot=iot, bus=owner, agent=agent) for t in config.agent_endpoints]
        bus = owner
    return [t.format(iot=iot, bus=bus) for t in config.bus_endpoints]


def filter_name(runtime_name: str, kind: str, target: str) -> str:
    return f"{runtime_name}/{kind}_{target}"


def filter_specs(runtime_name: str, config: AttackerConfig) -> list[FilterSpec]:
    """One drop and/or delay filter per bus (or house) some attack may cut or delay."""
    plan = build_plan(config)
    specs: dict[str, FilterSpec] = {}
    for attack in plan.attacks:
        kinds = (["drop"] if attack.comm_cut else []) + (
            ["delay"] if attack.comm_delay_s > 0 and not attack.comm_cut else [])
        if attack.surface == "PMA":
            targets = [(b, link_endpoints(config, bus=b)) for b in attack.buses]
        else:
            targets = [(a, link_endpoints(config, agent=a)) for a in attack.agents]
        for kind in kinds:
            for ident, eps in targets:
                name = filter_name(runtime_name, kind, ident)
                specs[name] = FilterSpec(name=name, kind=kind, targets=eps)
    return list(specs.values())


class AttackerFederate(FederateWrapper):
    """Attacker. Plays the scenario's attack schedule: sends AttackCommand from `attack` to
    `<iot>/attack` and switches HELICS drop/delay filters on the attacked `<iot>/sp_<bus>`
    endpoints; publishes the ground truth on `state` (for reports only)."""

    kind = "attacker"
    phase = PHASES["attacker"]
    config_model = AttackerConfig
    config: AttackerConfig

    @classmethod
    def counterfactual_variants(cls, name: str, config: Any) -> dict[str, dict[str, Any]]:
        """`no_attack`: the schedule emptied; the attacker itself stays, so the federation,
        its wiring and its time ordering are those of the attacked run."""
        return {"no_attack": {f"{name}.attacks": []}}

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: AttackerConfig) -> Interfaces:
        return Interfaces(
            publications=[Publication(port="state", payload="AttackState")],
            endpoints=[Endpoint(port="attack", payload="AttackCommand")],
            filters=filter_specs(runtime.name, config),
        )

    @classmethod
    def autowire(cls, name: str, config: AttackerConfig,
                 context: ScenarioContext) -> AttackerConfig:
        update: dict[str, Any] = {}
        iots = [n for n, k in context.federates.items() if k == "iot"]
        if iots and config.iot_federate not in iots:
            update["iot_federate"] = iots[0]
        iot = update.get("iot_federate", config.iot_federate)
        if config.attack_endpoint is None and iots:
            update["attack_endpoint"] = f"{iot}/attack"
        if not config.feeder_data.buses and not config.use_population:
            update["feeder_data"] = feeder_data_for(context.feeder, config.feeder_data)
        return config.model_copy(update=update)

    @classmethod
    def use_facts(cls, name: str, config: AttackerConfig, facts: RunFacts) -> AttackerConfig:
        """Target selection from the device federate's population (its `bus_resources`);
        house ids an attack names must be houses of that population."""
        if config.use_population and not config.feeder_data.buses:
            resources = facts.of(config.iot_federate, "bus_resources")
            if resources is None:
                raise ValueError(f"use_population: federate {config.iot_federate!r} states no "
                                 "population (bus_resources); set iot_federate")
            config = config.model_copy(update={"feeder_data": FeederDataConfig(**resources)})
        houses = {a for agents in config.feeder_data.agents.values() for a in agents}
        for i, attack in enumerate(config.attacks):
            for j, agent in enumerate(attack.targets.agents):
                if not houses:
                    raise ValueError(f"attacks[{i}].targets.agents[{j}]: house {agent!r} "
                                     "named, but the attacker knows no houses (set "
                                     "use_population or feeder_data.agents)")
                if agent not in houses:
                    raise ValueError(f"attacks[{i}].targets.agents[{j}]: {agent!r} is not a "
                                     f"house of the population ({len(houses)} houses, e.g. "
                                     f"{sorted(houses)[:3]})")
        return config

    @classmethod
    def check(cls, name: str, config: AttackerConfig, context: ScenarioContext) -> None:
        """Every attack starts and ends inside the run and targets buses of the feeder (or,
        when the scenario gives the attacker its own `feeder_data.buses`, of those)."""
        run_s = context.duration_s
        declared = set(config.feeder_data.buses) if not config.use_population else set()
        for i, attack in enumerate(config.attacks):
            if not 0 <= attack.start < run_s:
                raise ValueError(f"attacks[{i}].start: {attack.start:g} s is outside the run "
                                 f"(expected 0 <= start < duration = {run_s:g} s)")
            if attack.end is not None and attack.end > run_s:
                raise ValueError(f"attacks[{i}].end: {attack.end:g} s is after the end of the "
                                 f"run ({run_s:g} s)")
            for j, bus in enumerate(attack.targets.buses):
                field = f"attacks[{i}].targets.buses[{j}]"
                if declared and bus not in declared:
                    raise ValueError(f"{field}: {bus!r} is not in feeder_data.buses")
                if not declared:
                    check_bus(field, bus, context.feeder)

    def on_start(self, io: StepIO) -> None:
        self.plan = build_plan(self.config)
        self.previous: float | None = None
        self.filter_state: dict[str, tuple[bool, float]] = {}
        self.known_filters = {s.name for s in filter_specs(self.runtime.name, self.config)}

    def _switch(self, io: StepIO, kind: str, ident: str, active: bool, delay: float) -> None:
        name = filter_name(self.runtime.name, kind, ident)
        if name not in self.known_filters:
            return
        state = (active, delay)
        if self.filter_state.get(name) != state:
            io.set_filter(name, active, delay)
            self.filter_state[name] = state

    def apply_links(self, io: StepIO, links: LinkState) -> None:
        for name in self.known_filters:
            kind, _, ident = name.removeprefix(f"{self.runtime.name}/").partition("_")
            if kind == "drop":
                on = ident in links.cut_buses or ident in links.cut_agents
                self._switch(io, kind, ident, on, 0.0)
            else:
                delay = links.delay_buses.get(ident, links.delay_agents.get(ident, 0.0))
                self._switch(io, kind, ident, delay > 0, delay)

    def on_step(self, io: StepIO) -> None:
        t = io.time
        links = self.plan.links(t)
        self.apply_links(io, links)  # links first: this step's messages are already filtered
        for cmd in self.plan.commands(self.previous, t):
            if self.config.attack_endpoint:
                io.send("attack", self.config.attack_endpoint, cmd)
        self.previous = t
        io.publish("state", attack_state(self.plan, t, links))


def attack_state(plan: AttackPlan, time: float, links: LinkState) -> AttackState:
    attacked: dict[str, float] = {}
    for a in plan.active(time):
        attacked.update(dict.fromkeys(a.buses, 1.0))
    cut = dict.fromkeys(sorted(links.cut_buses | links.cut_agents), 1.0)
    delay = {**links.delay_buses, **links.delay_agents}
    return AttackState(time=time, active=len(plan.active(time)), attacked=attacked, cut=cut,
                       delay_s=delay)


def feeder_data_for(feeder: str, current: FeederDataConfig) -> FeederDataConfig:
    """Buses and nominal spot loads of the scenario's feeder (generation: from the population)."""
    try:
        import feeders.catalog as catalog

        loads = catalog.load(feeder).loads
    except Exception:  # noqa: BLE001 - unknown feeder: leave the data as configured
        return current
    per_bus = loads.groupby("bus")["kw"].sum()
    return FeederDataConfig(
        buses=[str(b) for b in per_bus.index],
        generation_kw=dict(current.generation_kw),
        load_kw=current.load_kw or {str(b): float(v) for b, v in per_bus.items()},
        agents=dict(current.agents),
    )
