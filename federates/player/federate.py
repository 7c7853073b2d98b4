"""Thin HELICS wrapper of the profile player: publishes `injections` every step."""

from __future__ import annotations

from federates.checks import check_bus
from federates.common.profiles import check_profile
from federates.messages import InjectionSet
from federates.player.config import PlayerConfig
from federates.player.model import PlayerModel
from federates.runtime import (
    FederateWrapper,
    Interfaces,
    Publication,
    RuntimeConfig,
    ScenarioContext,
    StepIO,
)


class PlayerFederate(FederateWrapper):
    """Plays built-in or CSV profiles at buses; publishes `injections` (InjectionSet)."""

    kind = "player"
    outputs = ("injections",)
    config_model = PlayerConfig

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: PlayerConfig) -> Interfaces:
        return Interfaces(publications=[Publication(port="injections", payload="InjectionSet")])

    @classmethod
    def check(cls, name: str, config: PlayerConfig, context: ScenarioContext) -> None:
        for i, item in enumerate(config.items):
            check_bus(f"items[{i}].bus", item.bus, context.feeder)
            check_profile(f"items[{i}].profile", item.profile)

    def on_start(self, io: StepIO) -> None:
        self.model = PlayerModel(self.config)

    def on_step(self, io: StepIO) -> None:
        items = self.model.injections(io.time)
        io.publish("injections", InjectionSet(source=io.name, time=io.time, items=items))
