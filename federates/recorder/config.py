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
    output_dir: str = Field("", description="Folder of the parquet parts (default: the run's "
                            "results folder).")
    chunk_steps: int = Field(60, ge=1, description="Steps per parquet part (crash loses <= 1).")
    slack_steps: int | None = Field(
        None, ge=0, description="The other federates wait for the recorder once it is this "
        "many steps behind, so a failure loses at most that many steps; 0: they never wait. "
        "Default: 10, or 0 in runs with a market, whose clearings pace the run more slowly "
        "than the recorder and whose waiting federates, in a loop through the recorder, "
        "would negotiate time nonstop (a market run's system CPU doubled).")
