"""Thin HELICS wrapper of the recorder: subscribes to the scenario's signals, writes parquet."""

from __future__ import annotations

from pathlib import Path

from federates.recorder.config import RecorderConfig, Signal
from federates.recorder.model import PAYLOADS, RecorderModel
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
    `clock`, which every other federate follows (with a slack of a few steps) so the
    recorder never falls far behind."""

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
        self.model = RecorderModel(Path(self.config.output_dir), self.config.chunk_steps)

    def on_step(self, io: StepIO) -> None:
        for signal in self.config.signals or []:
            if not io.updated(signal.key):
                continue
            if signal.payload:
                payload = io.get(signal.key, PAYLOADS[signal.payload])
                if payload is not None:
                    self.model.add_payload(io.time, signal.key, payload)
            else:
                self.model.add_vector(io.time, signal.key, io.get_raw(signal.key))
        self.model.end_step(io.time)
        io.publish("clock", io.time)  # producers follow this: they stay <= 1 step ahead

    def on_stop(self, io: StepIO, completed: bool) -> None:
        self.model.flush()
