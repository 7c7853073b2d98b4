"""Configuration of the profile player federate."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PlayerItem(BaseModel):
    """One profile played at one bus: p = profile(t) * p_kw (load convention)."""

    model_config = ConfigDict(extra="forbid")
    bus: str = Field(description="Bus the profile is injected at.")
    profile: str = Field(description="Built-in profile (residential, commercial, "
                         "pv_clear_sky, flat) or a CSV path with columns time_s,value.")
    p_kw: float = Field(description="Scale [kW]; negative for generation (e.g. -50 for 50 kW PV).")
    power_factor: float = Field(1.0, ge=-1.0, le=1.0, description="Positive: absorbs kvar "
                                "with the sign of p; negative: supplies kvar.")
    phases: list[int] | None = Field(None, description="Phases (1, 2, 3) to spread it on; "
                                     "default: every phase of the bus.")
    latitude_deg: float = Field(35.0, description="Latitude for the clear-sky PV profile "
                                "[deg].")
    day_of_year: int = Field(172, ge=1, le=366, description="Day of the year for the "
                             "clear-sky PV profile (172: summer solstice).")


class PlayerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[PlayerItem] = Field(default_factory=list, description="The profiles played, "
                                    "one per bus.")
