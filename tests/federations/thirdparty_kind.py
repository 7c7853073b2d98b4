"""A federate kind that exists only here: its own phase, payload, ports and report.

The third-party-kind test installs it under the entry-point group `gridfed.kinds` (a
dist-info folder on PYTHONPATH, as `pip install` of a package would leave) and runs it in a
federation; runner/ knows nothing of it. docs/architecture.md walks through this file.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from federates.messages import Payload, payload_ref
from federates.runtime import (
    PHASES,
    FederateWrapper,
    Interfaces,
    Publication,
    RuntimeConfig,
    ScenarioContext,
    StepIO,
    Subscription,
)


class MeterReading(Payload):
    """What the meter publishes each step (recorded as `<meter>.p_kw`, `<meter>.steps`)."""

    time: float
    p_kw: float = Field(description="PCC import seen this step [kW].")
    steps: int = Field(description="Steps metered so far.")


class MeterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pcc_key: str = Field("", description="Grid's `pcc_power` publication; default: the "
                         "first federate publishing `pcc_power`.")


class MeterFederate(FederateWrapper):
    """Reads the grid's PCC power after the grid has solved (its phase) and republishes it."""

    kind = "meter"
    config_model = MeterConfig
    phase = PHASES["market"]  # after the grid: sees this step's solution

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: MeterConfig) -> Interfaces:
        return Interfaces(
            publications=[Publication(port="reading", payload=payload_ref(MeterReading))],
            subscriptions=[Subscription(key=config.pcc_key, type="vector")])

    @classmethod
    def autowire(cls, name: str, config: MeterConfig, context: ScenarioContext) -> MeterConfig:
        if config.pcc_key:
            return config
        grid = next(n for n, kind in context.federates.items() if kind == "grid")
        return config.model_copy(update={"pcc_key": f"{grid}/pcc_power"})

    @classmethod
    def report(cls, name: str, config: MeterConfig, timeseries: Any, plots_dir: Any) -> dict:
        rows = timeseries[timeseries.signal == f"{name}.p_kw"]
        return {"mean_kw": float(rows.value.mean()), "steps": len(rows)}

    def on_start(self, io: StepIO) -> None:
        self.steps = 0

    def on_step(self, io: StepIO) -> None:
        value = io.get_raw(self.config.pcc_key)
        if value:
            self.steps += 1
            io.publish("reading", MeterReading(time=io.time, p_kw=value[0], steps=self.steps))
