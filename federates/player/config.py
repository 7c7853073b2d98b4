"""Configuration of the profile player federate."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PlayerItem(BaseModel):
    """One profile played at one bus: p = profile(t) * p_kw (load convention)."""

    model_config = ConfigDict(extra="forbid")
    bus: str
    profile: str = Field(description="Built-in profile (residential, commercial, "
                         "pv_clear_sky, flat) or a CSV path with columns time_s,value.")
    p_kw: float = Field(description="Scale [kW]; negative for generation (e.g. -50 for 50 kW PV).")
    power_factor: float = Field(1.0, ge=-1.0, le=1.0, description="Positive: absorbs kvar "
                                "with the sign of p; negative: supplies kvar.")
    phases: list[int] | None = None
    latitude_deg: float = 35.0
    day_of_year: int = Field(172, ge=1, le=366)


class PlayerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[PlayerItem] = Field(default_factory=list)
