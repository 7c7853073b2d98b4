"""Compile a validated scenario into per-federate configs and a launch plan.

Compilation validates each federate's config against its kind's config model (errors name
`federates.<name>.config.<field>`), lets each kind fill what depends on the rest of the
scenario (`autowire`), computes every federate's HELICS interfaces and checks that each
subscription has a publisher.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from federates.registry import wrapper_class
from federates.runtime import (
    Interfaces,
    Publication,
    RunFacts,
    RuntimeConfig,
    ScenarioContext,
)
from runner.schema import Scenario, ScenarioError, format_validation_error


@dataclass
class CompiledFederate:
    name: str
    kind: str
    runtime: RuntimeConfig
    config: BaseModel
    interfaces: Interfaces

    def spec(self) -> dict[str, Any]:
        """The JSON a child process reads: `python -m federates <this file>`."""
        return {"kind": self.kind, "runtime": self.runtime.model_dump(),
                "config": self.config.model_dump(mode="json")}


@dataclass
class Plan:
    scenario: Scenario
    broker_host: str
    broker_port: int
    broker_key: str
    broker_name: str
    federates: list[CompiledFederate]

    @property
    def expected_federates(self) -> int:
        return len(self.federates) + len(self.scenario.external)

    def broker_address(self) -> str:
        return f"tcp://{self.broker_host}:{self.broker_port}"

    @property
    def time_coordination(self) -> str:
        return self.scenario.broker.time_coordination

    def write(self, directory: Path) -> Path:
        """Write configs/<name>.json for each federate and launch_plan.json; returns the plan."""
        configs = directory / "configs"
        configs.mkdir(parents=True, exist_ok=True)
        steps = []
        for fed in self.federates:
            path = configs / f"{fed.name}.json"
            path.write_text(json.dumps(fed.spec(), indent=2) + "\n")
            steps.append({
                "name": fed.name, "kind": fed.kind, "phase": fed.runtime.phase,
                "period_s": fed.runtime.period, "command": ["python", "-m", "federates",
                                                            f"configs/{fed.name}.json"],
                "publications": [f"{fed.name}/{p.port}" for p in fed.interfaces.publications],
                "subscriptions": [s.key for s in fed.interfaces.subscriptions],
                "endpoints": [f"{fed.name}/{e.port}" for e in fed.interfaces.endpoints],
            })
        plan = {
            "broker": {"address": self.broker_address(), "name": self.broker_name,
                       "key": self.broker_key, "core_type": self.scenario.broker.core_type,
                       "time_coordination": self.time_coordination,
                       "federates": self.expected_federates},
            "external": self.scenario.external,
            "federates": steps,
        }
        path = directory / "launch_plan.json"
        path.write_text(json.dumps(plan, indent=2) + "\n")
        return path


def compile_scenario(scenario: Scenario, output_dir: Path, broker_port: int,
                     broker_key: str, broker_name: str) -> Plan:
    context = ScenarioContext(
        scenario=scenario.name, feeder=scenario.feeder, seed=scenario.seed,
        duration_s=scenario.duration, period_s=scenario.period,
        federates={name: spec.kind for name, spec in scenario.federates.items()},
        outputs={name: list(wrapper_class(spec.kind).outputs)
                 for name, spec in scenario.federates.items()},
        output_dir=str(output_dir),
    )
    compiled: list[CompiledFederate] = []
    for name, spec in scenario.federates.items():
        cls = wrapper_class(spec.kind)
        try:
            config = cls.config_model.model_validate(spec.config)
        except ValidationError as exc:
            raise ScenarioError(format_validation_error(
                scenario.name, exc, prefix=f"federates.{name}.config")) from None
        try:
            config = cls.autowire(name, config, context)
        except (ValueError, KeyError) as exc:
            raise ScenarioError(f"{scenario.name}: federates.{name}: {exc}") from None
        try:
            cls.check(name, config, context)
        except ValueError as exc:  # the message starts with the config field path
            raise ScenarioError(f"{scenario.name}: federates.{name}.config.{exc}") from None
        except (KeyError, OSError) as exc:
            raise ScenarioError(f"{scenario.name}: federates.{name}.config: {exc}") from None
        runtime = RuntimeConfig(
            name=name, broker_address=scenario.broker.host, broker_port=broker_port,
            broker_key=broker_key, core_type=scenario.broker.core_type,
            period=spec.period or scenario.period,
            phase=spec.phase if spec.phase is not None else cls.phase,
            stop_time=scenario.duration, log_level=scenario.broker.log_level,
        )
        compiled.append(CompiledFederate(name, spec.kind, runtime, config,
                                         cls.interfaces(runtime, config)))
    if scenario.broker.core_type == "zmq":
        from runner.launch import free_port

        for fed in compiled:  # own ports, so HELICS does not hand out ports near the broker's
            fed.runtime.local_port = free_port(scenario.broker.host)
    _use_facts(scenario, compiled)
    _wire_publications(scenario, compiled)
    _follow_clocks(compiled)
    _check_subscriptions(scenario, compiled)
    return Plan(scenario, scenario.broker.host, broker_port, broker_key, broker_name, compiled)


def _use_facts(scenario: Scenario, compiled: list[CompiledFederate]) -> None:
    """Each kind checks itself against, and completes itself from, what the others state
    about the run (`run_facts` / `use_facts`)."""
    facts = RunFacts({fed.name: wrapper_class(fed.kind).run_facts(fed.name, fed.config)
                      for fed in compiled})
    for fed in compiled:
        cls = wrapper_class(fed.kind)
        try:
            config = cls.use_facts(fed.name, fed.config, facts)
        except (ValueError, KeyError) as exc:
            raise ScenarioError(
                f"{scenario.name}: federates.{fed.name}.config.{exc}") from None
        if config is not fed.config:
            fed.config = config
            fed.interfaces = cls.interfaces(fed.runtime, config)


def _publications(compiled: list[CompiledFederate]) -> dict[str, Publication]:
    return {f"{fed.name}/{pub.port}": pub for fed in compiled
            for pub in fed.interfaces.publications}


def _wire_publications(scenario: Scenario, compiled: list[CompiledFederate]) -> None:
    """Give kinds that consume 'everything published' (the recorder) the full list."""
    pubs = _publications(compiled)
    for fed in compiled:
        cls = wrapper_class(fed.kind)
        hook = getattr(cls, "wire_publications", None)
        if hook is None:
            continue
        try:
            fed.config = hook(fed.config, pubs)
        except ValueError as exc:
            raise ScenarioError(f"{scenario.name}: federates.{fed.name}.config: {exc}") from None
        fed.interfaces = cls.interfaces(fed.runtime, fed.config)


def _follow_clocks(compiled: list[CompiledFederate]) -> None:
    """Every federate follows the clock of each federate that asks for it (the recorder),
    delayed by that federate's slack (`FederateWrapper.follow_slack_steps`)."""
    paced = any(wrapper_class(fed.kind).long_steps for fed in compiled)
    clocks = []
    for fed in compiled:
        cls = wrapper_class(fed.kind)
        slack = cls.follow_slack_steps(fed.config, paced) if cls.clock_port else 0
        if slack > 0:
            clocks.append(f"{fed.name}/{cls.clock_port}")
            fed.runtime.output_delay = slack * fed.runtime.period
    for fed in compiled:  # a federate with a clock of its own follows none
        if not wrapper_class(fed.kind).clock_port:
            fed.runtime.follow = list(clocks)


def _check_subscriptions(scenario: Scenario, compiled: list[CompiledFederate]) -> None:
    pubs = _publications(compiled)
    for fed in compiled:
        for sub in fed.interfaces.subscriptions:
            source = sub.key.split("/", 1)[0]
            if sub.key not in pubs and source not in scenario.external:
                raise ScenarioError(
                    f"{scenario.name}: federates.{fed.name} subscribes to {sub.key!r}, which no "
                    f"federate publishes (known: {sorted(pubs)})")
