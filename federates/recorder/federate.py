"""Thin HELICS wrapper of the recorder: subscribes to the scenario's signals, writes parquet."""

from __future__ import annotations

import sys
from pathlib import Path

from federates.recorder.config import RecorderConfig, Signal
from federates.recorder.model import PAYLOADS, RecorderModel
from federates.recorder.writer import BackgroundWriter, RawValue
from federates.runtime import (
    FederateWrapper,
    Interfaces,
    Publication,
    RuntimeConfig,
    ScenarioContext,
    StepIO,
    Subscription,
)


class RecorderFederate(FederateWrapper):
    """Subscribes to every publication (or `signals`), writes long-format parquet; publishes
    `clock`, which the other federates follow with a slack of `slack_steps` steps (none in
    runs with a market) so the recorder never falls far behind. Its time loop only copies
    the raw values (HELICS hands it every step's values in order, even when it trails); a
    writer thread parses them and writes the parts (`writer.py`)."""

    kind = "recorder"
    config_model = RecorderConfig

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: RecorderConfig) -> Interfaces:
        return Interfaces(publications=[Publication(port="clock", type="double", units="s")],
                          subscriptions=[
            Subscription(key=s.key, type="string" if s.payload else "vector")
            for s in config.signals or []
        ])

    @classmethod
    def autowire(cls, name: str, config: RecorderConfig, context: ScenarioContext):
        if config.output_dir:
            return config
        return config.model_copy(update={"output_dir": context.output_dir})

    @classmethod
    def wire_publications(cls, config: RecorderConfig,
                          publications: dict[str, Publication]) -> RecorderConfig:
        """Record every publication of the scenario unless signals were given explicitly."""
        if config.signals is not None:
            unknown = [s.key for s in config.signals if s.key not in publications]
            if unknown:
                raise ValueError(f"recorder.signals: no federate publishes {unknown}; "
                                 f"known: {sorted(publications)}")
            return config
        signals = [Signal(key=key, payload=pub.payload) for key, pub in publications.items()
                   if key not in config.exclude and (pub.payload or pub.type == "vector")]
        return config.model_copy(update={"signals": signals})

    def on_start(self, io: StepIO) -> None:
        model = RecorderModel(Path(self.config.output_dir), self.config.chunk_steps)
        # the time loop gets the GIL back from the writer's thread within 0.2 ms, not the
        # default 5 ms, whenever HELICS grants a step
        sys.setswitchinterval(2e-4)
        self.writer = BackgroundWriter(model, max_pending_steps=self.config.chunk_steps)

    def on_step(self, io: StepIO) -> None:
        values = []
        for signal in self.config.signals or []:
            if not io.updated(signal.key):
                continue
            raw = io.get_raw(signal.key)
            if signal.payload and raw:
                values.append(RawValue(signal.key, PAYLOADS[signal.payload], raw))
            elif not signal.payload:
                values.append(RawValue(signal.key, None, raw))
        self.writer.add_step(io.time, values)  # parsed and written on the writer's thread
        io.publish("clock", io.time)  # the others follow this, `slack_steps` behind

    def on_stop(self, io: StepIO, completed: bool) -> None:
        if hasattr(self, "writer"):
            self.writer.close()
