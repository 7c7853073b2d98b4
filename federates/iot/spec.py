"""Population spec (pydantic, lives in the scenario YAML) and the `ieee123_der` preset."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HouseSpec(_Strict):
    """Distributions of house parameters (GridLAB-D style)."""

    floor_area_sf: tuple[float, float, float] = Field(
        (1000.0, 1500.0, 2500.0), description="Triangular (min, mode, max) floor area [sf].")
    integrity: dict[str, float] = Field(
        default_factory=lambda: {"little": 0.1, "below_normal": 0.2, "normal": 0.4,
                                 "above_normal": 0.2, "good": 0.1},
        description="Share of houses per GridLAB-D thermal integrity class.")
    heat_pump_share: float = Field(0.6, ge=0, le=1, description="Rest: resistance heating.")
    cooling_cop: tuple[float, float] = Field((3.0, 4.0), description="Uniform range.")
    over_sizing: tuple[float, float] = Field((0.0, 0.2), description="Uniform HVAC over-sizing.")
    jitter: float = Field(0.1, ge=0, lt=1, description="Relative +- jitter on R-values, ACH, HM.")
    cooling_setpoint_c: tuple[float, float] = Field((24.0, 1.0), description="Normal (mean, sd).")
    heating_setpoint_c: tuple[float, float] = Field((20.5, 1.0), description="Normal (mean, sd).")
    deadband_c: float = Field(1.0, gt=0, description="Thermostat deadband [degC].")
    comfort_band_c: tuple[float, float] = Field(
        (1.5, 2.5), description="Uniform: allowed excursion beyond the setpoint [degC]; bids "
        "and comfort violations use it.")
    base_load_kw: tuple[float, float] = Field(
        (0.8, 0.3), description="Lognormal (median, sigma) of the mean plug/lighting load.")
    trust: tuple[float, float] = Field((9.0, 1.0), description="Beta(a, b) IoT trust score.")
    compromised_share: float = Field(0.0, ge=0, le=1,
                                     description="Share of agents flagged as compromised.")
    initial_temp_spread_c: float = Field(0.5, ge=0, description="Uniform +- around setpoint.")


class DeviceSpec(_Strict):
    """How many devices of one type and where: a count or a share of houses."""

    count: int | None = Field(None, ge=0, description="Number of devices (default: the "
                              "preset's).")
    share: float | None = Field(None, ge=0, le=1, description="Share of houses with one.")
    buses: int | None = Field(None, ge=1, description="Concentrate on this many buses.")

    @model_validator(mode="after")
    def _one_of(self) -> DeviceSpec:
        if self.count is not None and self.share is not None:
            raise ValueError("give either count or share, not both")
        return self

    def number(self, houses: int) -> int:
        if self.count is not None:
            if self.count > houses:
                raise ValueError(f"count {self.count} exceeds the {houses} houses")
            return self.count
        return int(round((self.share or 0.0) * houses))


class PvSpec(DeviceSpec):
    """Rooftop PV inverters."""

    total_kva: float | None = Field(None, gt=0, description="Scale ratings to this total.")
    kva: tuple[float, float] = Field((3.0, 7.0), description="Uniform inverter rating [kVA].")
    dc_ac_ratio: float = Field(1.15, gt=0, description="PV array DC rating over inverter AC "
                               "rating.")
    pf: float = Field(1.0, gt=0, le=1, description="Fixed power factor (absorbing).")
    volt_var: bool = Field(False, description="IEEE 1547 cat. B volt-var (needs grid voltages).")


class BatterySpec(DeviceSpec):
    """Home batteries."""

    total_kva: float | None = Field(None, gt=0, description="Scale ratings to this total "
                                    "[kVA].")
    kva: tuple[float, float] = Field((5.0, 5.0), description="Uniform rating [kW].")
    mode: Literal["self_consumption", "idle"] = Field(
        "self_consumption", description="Behaviour without market setpoints.")
    initial_soc: tuple[float, float] = Field((0.4, 0.6), description="Uniform initial SOC.")


class EvSpec(DeviceSpec):
    """Electric vehicles and their chargers."""

    v2g_share: float = Field(0.0, ge=0, le=1, description="Share of EVs that can discharge "
                             "to the grid.")


class PopulationSpec(_Strict):
    """Device population of one feeder. `preset` fills every field the user left unset."""

    preset: Literal["ieee123_der"] | None = Field(None, description="Fill every field left "
                                                  "unset from this preset.")
    houses: int | None = Field(None, ge=0, description="Houses on the feeder, allocated to "
                               "load buses in proportion to their kW (at least one per bus).")
    houses_per_bus: dict[str, int] | None = Field(None, description="Explicit houses per bus.")
    house: HouseSpec = Field(default_factory=HouseSpec)
    waterheater: DeviceSpec = Field(default_factory=DeviceSpec)
    pv: PvSpec = Field(default_factory=PvSpec)
    battery: BatterySpec = Field(default_factory=BatterySpec)
    ev: EvSpec = Field(default_factory=EvSpec)
    match_bus_loads: bool = Field(True, description="Add a residual constant load per bus so "
                                  "houses + residual equal the feeder's spot loads.")
    design_duty: float = Field(0.4, gt=0, le=1, description="HVAC duty counted in a house's "
                               "nominal demand when matching bus loads.")
    seed: int | None = Field(None, description="Default: the scenario seed.")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: object) -> object:
        """Deep-merge the preset under the given fields (given values win, field by field).

        Idempotent, so a resolved spec written to a config file validates to itself.
        """
        if isinstance(data, dict) and data.get("preset"):
            if data["preset"] not in PRESETS:
                raise ValueError(f"unknown preset {data['preset']!r}; expected one of "
                                 f"{sorted(PRESETS)}")
            return _merge(PRESETS[data["preset"]], data)
        return data


PRESETS: dict[str, dict] = {
    # Seed 001: DER-rich IEEE 123 -- 1,008 houses on the 85 load buses, HVAC in every house,
    # water heaters in 348; 207 PV (880.84 kVA) on 68 buses; 173 batteries (865 kVA) on 63.
    "ieee123_der": {
        "houses": 1008,
        "waterheater": {"count": 348},
        "pv": {"count": 207, "total_kva": 880.84, "buses": 68},
        "battery": {"count": 173, "total_kva": 865.0, "buses": 63},
        "ev": {"count": 0},
        "match_bus_loads": True,
    },
}


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    if {"count", "share"} & set(over):  # a user count or share replaces the preset's
        out.pop("count", None)
        out.pop("share", None)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve(spec: PopulationSpec) -> PopulationSpec:
    """The preset is applied when the spec is validated; kept for call sites."""
    return spec
