"""A peak-shaving battery controller as a gridfed federate kind (docs/custom_kinds.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from federates.messages import Injection, InjectionSet
from federates.runtime import FederateWrapper, Interfaces, Publication, StepIO, Subscription


class ShaverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bus: str = Field(description="Bus of the battery.")
    threshold_kw: float = Field(description="PCC import above which the battery discharges [kW].")
    p_max_kw: float = Field(200.0, gt=0, description="Inverter rating [kW].")
    capacity_kwh: float = Field(400.0, gt=0, description="Usable energy [kWh].")
    pcc_key: str = Field("grid/pcc_power", description="The grid's [P kW, Q kvar] vector.")


class PeakShaver(FederateWrapper):
    """Discharges by the import above the threshold, as the previous step's import would
    have been without the battery."""

    config_model = ShaverConfig
    outputs = ("injections",)  # the grid applies every federate's `injections`

    @classmethod
    def interfaces(cls, runtime, config: ShaverConfig) -> Interfaces:
        return Interfaces(
            publications=[Publication(port="injections", payload="InjectionSet", units="kW")],
            subscriptions=[Subscription(key=config.pcc_key, type="vector")])

    def on_start(self, io: StepIO) -> None:
        self.energy_kwh = self.config.capacity_kwh
        self.import_kw = self.p_kw = 0.0

    def on_step(self, io: StepIO) -> None:
        cfg, hours = self.config, self.runtime.period / 3600.0
        if io.updated(cfg.pcc_key):  # the grid solved after us last step: one-step lag
            self.import_kw = io.get_raw(cfg.pcc_key)[0] + self.p_kw  # without the battery
        want = max(0.0, self.import_kw - cfg.threshold_kw)
        self.p_kw = min(want, cfg.p_max_kw, self.energy_kwh / hours)
        self.energy_kwh -= self.p_kw * hours
        io.publish("injections", InjectionSet(source=io.name, time=io.time, items=[
            Injection(bus=cfg.bus, p_kw=-self.p_kw)]))  # load convention: discharge < 0
