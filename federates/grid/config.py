"""Configuration of the grid federate."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BaselineConfig(BaseModel):
    """Daily shape applied to the feeder's own spot loads (through OpenDSS LoadMult)."""

    model_config = ConfigDict(extra="forbid")
    shape: str = Field("residential", description="Built-in profile, a .csv path, or 'none' "
                       "to switch the feeder's spot loads off (devices then supply all load).")
    scale: float = Field(1.0, gt=0, description="Multiplier on the shape (peak load / nominal).")


class ControlsConfig(BaseModel):
    """Regulator and capacitor controls in each power-flow solve."""

    model_config = ConfigDict(extra="forbid")
    regulators: bool = Field(True, description="Regulator controls act in each solve.")
    capacitors: bool = Field(True, description="Capacitor controls act in each solve.")
    locked_taps: dict[str, int] | Literal["published"] | None = Field(
        None, description="Lock taps to these positions (or the feeder's published ones).")


class IslandConfig(BaseModel):
    """Islanded operation: the substation is open and a grid-forming unit holds voltage."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(False, description="Open the PCC element; the feeder runs as an island.")
    former_bus: str = Field("", description="Bus of the grid-forming unit (default: the bus on "
                            "the feeder side of the PCC element).")
    v_pu: float = Field(1.0, ge=0.9, le=1.1, description="Voltage the unit holds [pu].")


class GridConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feeder: str = Field("", description="Feeder name (default: the scenario's feeder).")
    injection_sources: list[str] | None = Field(
        None, description="Federates whose '<name>/injections' are applied (default: every "
        "player and iot federate of the scenario).")
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)
    controls: ControlsConfig = Field(default_factory=ControlsConfig)
    tolerance: float = Field(1e-8, gt=0, le=1e-3, description="OpenDSS convergence [pu].")
    island: IslandConfig = Field(default_factory=IslandConfig)
