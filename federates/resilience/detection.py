"""Attack detection from the PCC: measured import against the market's scheduled import.

The resilience manager sees only the net power at the PCC and the import the market
expects (`PccSchedule`). Devices that no longer follow their dispatch (compromised or cut
off) make the measured import depart from the schedule. The detector raises an alarm
after `confirm_steps` consecutive steps with |measured - scheduled| above the threshold
and clears it after `clear_steps` consecutive steps back within it (hysteresis on time).

threshold = max(threshold_kw, threshold_pct / 100 * |scheduled|).

The deviation is reported as measured - scheduled (positive = more import than planned),
the opposite sign of the seed's Delta (see `reweighting.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Event = Literal["attack_detected", "attack_cleared"]


class DetectionConfig(BaseModel):
    """Attack detection: measured import against the market's schedule."""

    model_config = ConfigDict(extra="forbid")
    threshold_kw: float = Field(10.0, ge=0, description="Absolute deviation threshold [kW].")
    threshold_pct: float = Field(
        2.0, ge=0, description="Relative threshold [% of |scheduled import|]; the larger wins."
    )
    confirm_steps: int = Field(
        1, ge=1, description="Consecutive steps beyond threshold to alarm (1: a market that "
        "folds measured bus loads into its next schedule hides the attack after one step).")
    clear_steps: int = Field(3, ge=1, description="Consecutive steps within threshold to clear.")
    direction: Literal["both", "up", "down"] = Field(
        "up", description="'up' (default: LA and DG disruption attacks raise the import): only "
        "import above schedule counts; 'down': only below; 'both'."
    )


@dataclass
class DetectionEvent:
    time: float
    kind: Event
    deviation_kw: float
    onset_time: float = field(default=float("nan"))


@dataclass
class Detector:
    """Stateful detector; feed it one (time, measured, scheduled) per step."""

    config: DetectionConfig = field(default_factory=DetectionConfig)
    active: bool = False
    detection_time: float | None = None
    onset_time: float | None = None
    clear_time: float | None = None
    deviation_kw: float = 0.0
    events: list[DetectionEvent] = field(default_factory=list)
    _run: int = 0
    _run_start: float | None = None

    def threshold(self, scheduled_kw: float) -> float:
        return max(self.config.threshold_kw, self.config.threshold_pct / 100 * abs(scheduled_kw))

    def exceeds(self, measured_kw: float, scheduled_kw: float) -> bool:
        dev = measured_kw - scheduled_kw
        thr = self.threshold(scheduled_kw)
        if self.config.direction == "up":
            return dev > thr
        if self.config.direction == "down":
            return -dev > thr
        return abs(dev) > thr

    def update(self, time: float, measured_kw: float, scheduled_kw: float) -> DetectionEvent | None:
        """Process one step; returns the event raised at this step, if any."""
        self.deviation_kw = measured_kw - scheduled_kw
        out = self.exceeds(measured_kw, scheduled_kw)
        # a run counts steps that disagree with the current state
        if out != self.active:
            if self._run == 0:
                self._run_start = time
            self._run += 1
        else:
            self._run, self._run_start = 0, None
        needed = self.config.clear_steps if self.active else self.config.confirm_steps
        if self._run < needed:
            return None
        start = self._run_start if self._run_start is not None else time
        self._run, self._run_start = 0, None
        if not self.active:
            self.active, self.detection_time, self.onset_time = True, time, start
            self.clear_time = None
            event = DetectionEvent(time, "attack_detected", self.deviation_kw, start)
        else:
            self.active, self.clear_time = False, time
            event = DetectionEvent(time, "attack_cleared", self.deviation_kw, start)
        self.events.append(event)
        return event

    def reset(self) -> None:
        """Forget the alarm state (the manager decided the attack is over)."""
        self.active, self._run, self._run_start = False, 0, None

    @property
    def detection_delay_s(self) -> float | None:
        """Detection time minus the first step of the confirming run (latest alarm)."""
        if self.detection_time is None or self.onset_time is None:
            return None
        return self.detection_time - self.onset_time
