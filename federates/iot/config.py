"""Configuration of the IoT device-population federate."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from federates.iot.spec import PopulationSpec


class LoadPoint(BaseModel):
    """One spot load (used instead of the feeder's load table when given)."""

    model_config = ConfigDict(extra="forbid")
    bus: str = Field(description="Bus of the spot load.")
    nodes: str = Field("1.2.3", description="Phases, e.g. '1' or '1.2.3'.")
    kw: float = Field(description="Spot load [kW].")
    kvar: float = Field(0.0, description="Spot load [kvar].")


class IotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feeder: str = Field("", description="Feeder whose load buses host the population "
                        "(default: the scenario's feeder).")
    loads: list[LoadPoint] | None = Field(None, description="Explicit load table instead of "
                                          "the feeder's spot loads.")
    seed: int | None = Field(None, description="Population seed (default: the scenario seed).")
    population: PopulationSpec = Field(default_factory=lambda: PopulationSpec(
        preset="ieee123_der"))
    weather: str = Field("summer", description="'summer', 'winter' or a CSV path "
                         "(hour|time_s, temp_c, ghi_w_m2).")
    start_hour: float = Field(0.0, ge=0, lt=24, description="Time of day at HELICS time 0 [h].")
    spin_up_h: float = Field(24.0, ge=0, le=168, description="Hours the devices run under "
                             "their own local control before time 0, so the run starts from "
                             "a settled population (0: start from nominal states).")
    spin_up_step_s: float = Field(60.0, gt=0, description="Step of the spin-up [s] (the "
                                  "federate's period when that is longer).")
    market: str | None = Field(None, description="Endpoint receiving FlexibilityBid and "
                               "Response messages, e.g. 'market/bids'; None = no market.")
    market_period_s: float = Field(300.0, gt=0, description="Length of a bid's period.")
    bid_agent_detail: bool = Field(True, description="Include the per-SMA (house) columns "
                                   "(False shrinks messages for very large populations).")
    resilience: str | None = Field(None, description="Endpoint receiving Telemetry and "
                                   "Response messages, e.g. 'resilience/telemetry'.")
    telemetry_period_s: float = Field(300.0, gt=0, description="Telemetry to the resilience "
                                      "manager every [s].")
    response_period_s: float | None = Field(
        None, ge=0, description="Send Response messages every this many seconds, with each "
        "agent's achieved and scheduled kW averaged over the period (None: the market "
        "period; 0: every step).")
    per_phase: bool = Field(True, description="One injection per (bus, phase) with its phase; "
                            "False: one per bus spread over the phases of its houses.")
    grid_state: str | None = Field(None, description="GridState key for volt-var voltages "
                                   "(one-step lag: the grid solves after the devices).")
    beta_per_band: float = Field(0.008, ge=0, description="Agent disutility [$/(kW^2 h)] "
                                 "for a 1 degC comfort band (scales as 1/band).")
    alpha_gen: float = Field(0.002, ge=0, description="Generation cost of PV/battery "
                             "[$/(kW^2 h)].")
