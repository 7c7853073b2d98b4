"""Configuration of the recorder federate."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Signal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="Global publication key, e.g. 'grid/state'.")
    payload: str = Field("", description="Payload model name; '' for a plain double vector.")


class RecorderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signals: list[Signal] | None = Field(
        None, description="What to record (default: every publication of the scenario).")
    exclude: list[str] = Field(default_factory=list, description="Keys to leave out.")
    output_dir: str = ""
    chunk_steps: int = Field(60, ge=1, description="Steps per parquet part (crash loses <= 1).")
