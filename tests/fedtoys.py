"""Small federates used by the tests as 'tests.fedtoys:Class' kinds (real HELICS federates)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from federates.runtime import (
    Endpoint,
    FederateWrapper,
    Interfaces,
    Publication,
    RuntimeConfig,
    StepIO,
    Subscription,
)


class ToyConfig(BaseModel):
    role: str = "source"
    fail_at: float | None = None
    out: str = ""
    peer: str = ""
    needs_file: str = ""  # Faulty: fails at start while this file is missing (a user kind
    # without a compile-time `check`, so only the run finds out)


class Toy(FederateWrapper):
    """source: publishes 2*t and sends {'t': t}; sink: logs what it sees each step."""

    kind = "toy"
    config_model = ToyConfig

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: ToyConfig) -> Interfaces:
        if config.role == "source":
            return Interfaces(publications=[Publication(port="x", type="double")],
                              endpoints=[Endpoint(port="out")])
        return Interfaces(subscriptions=[Subscription(key=f"{config.peer}/x", type="double")],
                          endpoints=[Endpoint(port="in")])

    def on_start(self, io: StepIO) -> None:
        self.seen: list[dict] = []

    def on_step(self, io: StepIO) -> None:
        if self.config.fail_at is not None and io.time >= self.config.fail_at:
            raise RuntimeError(f"boom at t={io.time}")
        if self.config.role == "source":
            io.publish("x", 2.0 * io.time)
            io.send("out", f"{self.config.peer}/in", json.dumps({"t": io.time}))
        else:
            x = io.get_raw(f"{self.config.peer}/x") if io.updated(f"{self.config.peer}/x") \
                else None
            msgs = [json.loads(raw)["t"] for _, raw in io.messages("in")]
            self.seen.append({"t": io.time, "x": x, "msgs": msgs})

    def on_stop(self, io: StepIO, completed: bool) -> None:
        if self.config.out:
            Path(self.config.out).write_text(json.dumps(self.seen))


class Faulty(FederateWrapper):
    """Follows `peer`/pcc_power (so it moves in step with the grid); raises at `fail_at`."""

    kind = "faulty"
    config_model = ToyConfig

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: ToyConfig) -> Interfaces:
        return Interfaces(subscriptions=[Subscription(key=f"{config.peer}/pcc_power",
                                                      type="vector")])

    def on_start(self, io: StepIO) -> None:
        if self.config.needs_file and not Path(self.config.needs_file).exists():
            raise FileNotFoundError(f"needs_file {self.config.needs_file} not found")

    def on_step(self, io: StepIO) -> None:
        if self.config.fail_at is not None and io.time >= self.config.fail_at:
            raise RuntimeError(f"boom at t={io.time}")


class Summing(FederateWrapper):
    """Report only: sums its own signal (role 'broken': raises) and says which process ran."""

    kind = "summing"
    config_model = ToyConfig

    @classmethod
    def report(cls, name: str, config: ToyConfig, timeseries, plots_dir) -> dict:
        import os

        if config.role == "broken":
            raise RuntimeError(f"{name}: broken on purpose")
        mine = timeseries[timeseries.signal == f"{name}.x"]
        return {"sum": float(mine.value.sum()), "rows": len(mine), "pid": os.getpid()}
