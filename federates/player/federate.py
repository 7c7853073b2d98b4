"""Thin HELICS wrapper of the profile player: publishes `injections` every step."""

from __future__ import annotations

from federates.messages import InjectionSet
from federates.player.config import PlayerConfig
from federates.player.model import PlayerModel
from federates.runtime import FederateWrapper, Interfaces, Publication, RuntimeConfig, StepIO


class PlayerFederate(FederateWrapper):
    """Plays built-in or CSV profiles at buses; publishes `injections` (InjectionSet)."""

    kind = "player"
    outputs = ("injections",)
    config_model = PlayerConfig

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: PlayerConfig) -> Interfaces:
        return Interfaces(publications=[Publication(port="injections", payload="InjectionSet")])

    def on_start(self, io: StepIO) -> None:
        self.model = PlayerModel(self.config)

    def on_step(self, io: StepIO) -> None:
        items = self.model.injections(io.time)
        io.publish("injections", InjectionSet(source=io.name, time=io.time, items=items))
