"""Thin HELICS wrapper of the OpenDSS grid model."""

from __future__ import annotations

from typing import Any

import feeders
from federates.checks import check_bus, check_feeder
from federates.common.profiles import check_profile, profile_values
from federates.grid.config import GridConfig
from federates.grid.model import GridModel, GridSetup
from federates.messages import InjectionSet
from federates.runtime import (
    PHASES,
    FederateWrapper,
    Interfaces,
    Publication,
    RuntimeConfig,
    ScenarioContext,
    StepIO,
    Subscription,
)
from feeders.opendss import IslandSetup

INJECTIONS_PORT = "injections"  # grid subscribes to every federate that publishes it


def build_model(config: GridConfig) -> GridModel:
    feeder = feeders.load(config.feeder)
    locked = config.controls.locked_taps
    taps = feeder.published_taps if locked == "published" else locked
    return GridModel(GridSetup(
        commands=feeder.dss_commands(),
        pcc_element=feeder.pcc_element,
        pcc_sign=feeder.pcc_sign,
        regulators=list(feeder.regulators),
        locked_taps=taps,
        regulator_control=config.controls.regulators,
        capacitor_control=config.controls.capacitors,
        baseline_enabled=config.baseline.shape != "none",
        tolerance=config.tolerance,
        tap_step=feeder.tap_step,
        island=IslandSetup(config.island.former_bus, config.island.v_pu)
        if config.island.enabled else None,
    ))


class GridFederate(FederateWrapper):
    """Publishes `state` (GridState JSON) and `pcc_power` ([P_kW, Q_kvar] double vector)."""

    kind = "grid"
    config_model = GridConfig
    phase = PHASES["grid"]

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: GridConfig) -> Interfaces:
        return Interfaces(
            publications=[
                Publication(port="state", payload="GridState"),
                Publication(port="pcc_power", type="vector", units="kW,kvar"),
            ],
            subscriptions=[Subscription(key=f"{src}/{INJECTIONS_PORT}")
                           for src in config.injection_sources or []],
        )

    @classmethod
    def run_facts(cls, name: str, config: GridConfig) -> dict[str, Any]:
        island = config.island
        return {"island": {"enabled": island.enabled, "former_bus": island.former_bus,
                           "v_pu": island.v_pu, "field": "island"}}

    @classmethod
    def autowire(cls, name: str, config: GridConfig, context: ScenarioContext) -> GridConfig:
        update: dict[str, Any] = {}
        if not config.feeder:
            update["feeder"] = context.feeder
        if config.injection_sources is None:
            update["injection_sources"] = [n for n, ports in context.outputs.items()
                                           if INJECTIONS_PORT in ports]
        return config.model_copy(update=update)

    @classmethod
    def check(cls, name: str, config: GridConfig, context: ScenarioContext) -> None:
        check_feeder("feeder", config.feeder)
        feeder = config.feeder or context.feeder
        if config.baseline.shape != "none":
            check_profile("baseline.shape", config.baseline.shape)
        if config.island.enabled and config.island.former_bus:
            check_bus("island.former_bus", config.island.former_bus, feeder)

    def on_start(self, io: StepIO) -> None:
        self.model = build_model(self.config)
        self.sources: dict[str, list] = {}

    def load_multiplier(self, t: float) -> float:
        baseline = self.config.baseline
        if baseline.shape == "none":
            return 1.0
        return float(profile_values(baseline.shape, t)[0]) * baseline.scale

    def on_step(self, io: StepIO) -> None:
        for src in self.config.injection_sources or []:
            key = f"{src}/injections"
            if io.updated(key):
                received = io.get(key, InjectionSet)
                if received is not None:
                    self.sources[src] = received.items
        state = self.model.step(io.time, self.load_multiplier(io.time), self.sources)
        io.publish("state", state)
        io.publish("pcc_power", [state.pcc_p_kw, state.pcc_q_kvar])

    @classmethod
    def report(cls, name: str, config: GridConfig, timeseries: Any, plots_dir: Any) -> dict:
        from federates.grid.report import grid_report

        return grid_report(name, config, timeseries, plots_dir)
