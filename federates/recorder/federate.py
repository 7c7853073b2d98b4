"""Thin HELICS wrapper of the recorder: subscribes to the scenario's signals, writes parquet."""

from __future__ import annotations

import sys
from pathlib import Path

from federates.messages import payload_model
from federates.recorder.config import RecorderConfig, Signal
from federates.recorder.model import RecorderModel
from federates.recorder.writer import BackgroundWriter, RawValue
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

DEFAULT_SLACK_STEPS = 10


class RecorderFederate(FederateWrapper):
    """Subscribes to every publication (or `signals`), writes long-format parquet; publishes
    `clock`, which the other federates follow with a slack of `slack_steps` steps (none in
    runs with a market) so the recorder never falls far behind. Its time loop only copies
    the raw values (HELICS hands it every step's values in order, even when it trails); a
    writer thread parses them and writes the parts (`writer.py`)."""

    kind = "recorder"
    config_model = RecorderConfig
    phase = PHASES["recorder"]
    clock_port = "clock"

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: RecorderConfig) -> Interfaces:
        return Interfaces(publications=[Publication(port="clock", type="double", units="s")],
                          subscriptions=[
            Subscription(key=s.key, type="string" if s.payload else "vector")
            for s in config.signals or []
        ])

    @classmethod
    def follow_slack_steps(cls, config: RecorderConfig, paced: bool) -> int:
        """The others run at most `slack_steps` ahead of the recorder's clock.

        HELICS values have no back-pressure: a recorder slower than the federation (a fast
        grid stepping alone) falls behind, and a failure loses everything it has not
        consumed. With the follow, the others run at most `slack_steps` steps ahead of it
        (so they and the recorder still work in parallel) and a failure loses at most that
        many steps. The follow closes a loop through every federate; with distributed time
        negotiation, the federates waiting in it exchange timing messages continuously
        while one of them computes long steps (a market clearing), so paced runs go
        without it (their pace is far below the recorder's speed).
        """
        if config.slack_steps is not None:
            return config.slack_steps
        return 0 if paced else DEFAULT_SLACK_STEPS

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
        # any payload a kind declares, custom kinds' included (imported by reference)
        self.models = {s.payload: payload_model(s.payload)
                       for s in self.config.signals or [] if s.payload}

    def on_step(self, io: StepIO) -> None:
        values = []
        for signal in self.config.signals or []:
            if not io.updated(signal.key):
                continue
            raw = io.get_raw(signal.key)
            if signal.payload and raw:
                values.append(RawValue(signal.key, self.models[signal.payload], raw))
            elif not signal.payload:
                values.append(RawValue(signal.key, None, raw))
        self.writer.add_step(io.time, values)  # parsed and written on the writer's thread
        io.publish("clock", io.time)  # the others follow this, `slack_steps` behind

    def on_stop(self, io: StepIO, completed: bool) -> None:
        if hasattr(self, "writer"):
            self.writer.close()
