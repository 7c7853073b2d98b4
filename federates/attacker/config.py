"""Configuration of the attacker federate."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from federates.attacker.schedule import AttackSpec, FeederData


class FeederDataConfig(BaseModel):
    """Per-bus facts target selection may use (filled by `autowire` from the scenario)."""

    model_config = ConfigDict(extra="forbid")
    buses: list[str] = Field(default_factory=list, description="Buses targets may be "
                             "chosen from.")
    generation_kw: dict[str, float] = Field(
        default_factory=dict, description="Local generation capacity per bus (PV, batteries) [kW].")
    load_kw: dict[str, float] = Field(
        default_factory=dict, description="Controllable load per bus [kW].")
    agents: dict[str, list[str]] = Field(
        default_factory=dict, description="Houses (secondary market agents) per bus.")

    def data(self) -> FeederData:
        return FeederData(list(self.buses), dict(self.generation_kw), dict(self.load_kw),
                          {b: list(a) for b, a in self.agents.items()})


class AttackerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attacks: list[AttackSpec] = Field(default_factory=list, description="The attack schedule.")
    attack_endpoint: str | None = Field(
        None, description="Global endpoint receiving AttackCommands (default '<iot>/attack'; "
        "None when the scenario has no device federate: communication-only attacks).")
    bus_endpoints: list[str] = Field(
        default_factory=lambda: ["{iot}/sp_{bus}"],
        description="Templates of the endpoints of one bus's links, cut/delayed by filters "
        "({iot} = device federate, {bus} = bus name).")
    agent_endpoints: list[str] = Field(
        default_factory=list,
        description="Templates of one house's endpoints ({iot}, {bus}, {agent}); empty = "
        "house-level links are cut at their bus's endpoints.")
    iot_federate: str = Field("iot", description="Name of the device-population federate.")
    feeder_data: FeederDataConfig = Field(
        default_factory=FeederDataConfig, description="Filled at compile time when empty: "
        "from the device federate's population if `use_population`, else the feeder's spot "
        "loads.")
    use_population: bool = Field(
        False, description="Select targets from the population of `iot_federate` "
        "(generation, controllable load and houses per bus), as the device federate states "
        "it at compile time.")
