"""A federate kind for the sweep tests: it fails at `fail_at_s` while its `flag_file` exists.

A point that validates and compiles, then fails in its federation (a federate exits with
an error), and runs through once the flag file is removed: the failing point of a sweep
that `--resume` then completes with the same sweep file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from federates.runtime import FederateWrapper, Interfaces, RuntimeConfig, StepIO


class TripwireConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flag_file: str = Field("", description="Fail while this file exists ('' never).")
    fail_at_s: float = Field(120.0, ge=0, description="Simulated time of the failure [s].")


class TripwireFederate(FederateWrapper):
    kind = "tripwire"
    config_model = TripwireConfig

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: TripwireConfig) -> Interfaces:
        return Interfaces()

    def on_step(self, io: StepIO) -> None:
        flag = self.config.flag_file
        if flag and io.time >= self.config.fail_at_s and Path(flag).exists():
            raise RuntimeError(f"tripwire: {flag} exists at t={io.time:g} s")
