"""The resilience manager as a pure model: detection + scores + coefficient re-weighting.

It sees only what the seed grants it: the measured PCC import, the market's PccSchedule,
and the telemetry / responses of the secondary market operators (SMOs) that get through.
It is never told which nodes are attacked: attacked SMOs show up only through missing
messages (cut links), anomalies and broken commitments, i.e. through low scores.

Per step:
1. scores: when telemetry is due, every expected SMO (and house) without telemetry since
   the last due time counts one lost message; responses update commitment;
2. detection: measured import vs the schedule in force (`Detector`);
3. on detection the pre-attack reference import is frozen (the schedule of the last step
   before the confirming run began) and mitigation starts: Delta = reference - measured
   drives `Mitigator` (eqs. (2)-(4)) once per market period (or `update_interval_s`),
   weighted by the SMOs' resilience scores; each update is sent to the market as a
   relative `CoefficientUpdate`;
4. the attack is over when mitigation has unwound: after the attack ends the import falls
   below the reference, Delta > 0 raises the factors back to 1 (they never overshoot it),
   and once they are all back and |Delta| is within the detection threshold the manager
   clears the alarm and tells the market (final update with all factors 1). The market's
   schedule is not used for this: a market that sees measured bus loads folds the attack
   into its schedule after its next clearing. With `end_on_schedule_match` (default) and
   in detect-only runs, the detector's own clearing rule also ends the alarm: measured
   import back at the schedule for `clear_steps` steps, i.e. the devices follow their
   dispatch again -- this also ends an alarm that a drifting baseline would otherwise keep
   alive against the frozen reference.
Islanded feeder (`watch: grid_forming`): the import is 0 by construction, so the manager
watches the grid-forming unit instead -- `measured_kw` is its measured output and the
schedule is `PccSchedule.grid_forming_p_kw`; everything above applies unchanged with
"import" read as "grid-forming output" (Delta = scheduled - measured output). Schedules
without a grid-forming output (e.g. a secondary-only re-evaluation of the import) are then
ignored and the last primary schedule stays in force.
Before the first schedule arrives the measured import stands in for it, and nothing is
detected before `warmup_s`. The schedule compared with the import measured at t is the
one in force at t - `schedule_lag_steps` steps: a clearing at t acts from t + dt on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from federates.messages import (
    Alert,
    CoefficientUpdate,
    HouseScores,
    MitigationState,
    PccSchedule,
    Response,
    Scores,
    Telemetry,
)
from federates.resilience.config import ManagerConfig
from federates.resilience.detection import DetectionEvent, Detector
from federates.resilience.reweighting import Mitigator, flexibility_direction
from federates.resilience.scores import ScoreBook


@dataclass
class StepOutput:
    alerts: list[Alert] = field(default_factory=list)
    update: CoefficientUpdate | None = None
    scores: Scores | None = None
    house_scores: HouseScores | None = None
    state: MitigationState | None = None


def _directions(flex: dict[str, float], agents: list[str]) -> dict[str, float]:
    if not flex:
        return {a: -1.0 for a in agents}
    return flexibility_direction({a: flex.get(a, 0.0) for a in agents})


class ResilienceManager:
    def __init__(self, config: ManagerConfig | None = None):
        self.config = config or ManagerConfig()
        self.detector = Detector(self.config.detection)
        self.smo_scores = ScoreBook(self.config.scores)
        self.smo_scores.add(self.config.agents)
        self.house_scores = ScoreBook(self.config.scores)
        self.mitigator = Mitigator(self.config.reweighting)
        self.schedules: list[PccSchedule] = []
        self.reference_kw: float | None = None
        self.mitigating = False
        self.attack_active = False
        self.last_update_time: float | None = None
        self.last_update_period: float | None = None
        self.last_due: float | None = None
        self.lost = 0
        self._last_time: float | None = None
        self._telemetry: dict[str, Telemetry] = {}
        self._responses: dict[str, Response] = {}
        self._history: deque[tuple[float, float]] = deque(
            maxlen=self.config.detection.confirm_steps + 2)

    # ---- inputs
    def add_schedule(self, schedule: PccSchedule) -> None:
        if self.config.watch == "grid_forming" and schedule.grid_forming_p_kw is None:
            return  # says nothing about the grid-forming unit
        self.schedules = [s for s in self.schedules
                          if s.period_start != schedule.period_start][-3:] + [schedule]

    def add_telemetry(self, telemetry: Telemetry) -> None:
        self._telemetry[telemetry.smo] = telemetry

    def add_response(self, response: Response) -> None:
        self._responses[response.smo] = response

    def scheduled_kw(self, schedule: PccSchedule) -> float:
        """The scheduled value of the watched quantity (PCC import or grid-forming output)."""
        if self.config.watch == "grid_forming":
            assert schedule.grid_forming_p_kw is not None
            return schedule.grid_forming_p_kw
        return schedule.p_kw

    def schedule_at(self, time: float) -> PccSchedule | None:
        current = [s for s in self.schedules if s.period_start <= time < s.period_end]
        if current:
            return max(current, key=lambda s: s.time)
        return self.schedules[-1] if self.schedules else None

    # ---- scores
    def _update_scores(self, time: float) -> bool:
        period = self.config.telemetry_period_s
        if self.last_due is None:  # the first step starts the clock: nothing was due yet
            self.last_due = time
            return False
        if period is not None and time - self.last_due < period - 1e-9:
            return False
        self.last_due = time
        smo_tel, house_tel = {}, {}
        for smo, t in self._telemetry.items():
            obs = [(float(a), int(m)) for a, m in zip(t.anomaly, t.messages_missed, strict=True)]
            smo_tel[smo] = (float(np.mean([a for a, _ in obs])) if obs else 0.0,
                            int(round(np.mean([m for _, m in obs]))) if obs else 0)
            house_tel.update(zip(t.agents, obs, strict=True))
        smo_resp, house_resp = {}, {}
        for smo, r in self._responses.items():
            smo_resp[smo] = (r.scheduled_kw, r.achieved_kw)
            house_resp.update(zip(r.agents, zip(r.agent_scheduled_kw, r.agent_achieved_kw,
                                                strict=True), strict=True))
        expected = set(self.smo_scores.agents) | set(smo_tel)
        self.lost = len(expected - set(smo_tel))
        self.smo_scores.update(smo_tel, smo_resp, expected)
        self.house_scores.update(house_tel, house_resp)
        self._telemetry.clear()
        self._responses.clear()
        return True

    # ---- mitigation
    def _update_due(self, time: float, schedule: PccSchedule | None) -> bool:
        interval = self.config.update_interval_s
        if interval is not None or schedule is None or \
                schedule.period_end <= schedule.period_start:
            gap = interval or 0.0
            return self.last_update_time is None or time - self.last_update_time >= gap
        return schedule.period_start != self.last_update_period and time > schedule.period_start

    def _mitigate(self, time: float, measured_kw: float, schedule: PccSchedule | None,
                  reason: str) -> CoefficientUpdate:
        assert self.reference_kw is not None
        rs = self.smo_scores.resilience_all()
        agents = list(rs)
        self.mitigator.step(self.reference_kw - measured_kw, rs,
                            _directions(self.config.generation_flex_kw, agents),
                            _directions(self.config.load_flex_kw, agents))
        self.last_update_time = time
        self.last_update_period = schedule.period_start if schedule else None
        return self.mitigator.message(time, reason)

    def _start(self, time: float, measured_kw: float, schedule: PccSchedule | None,
               event: DetectionEvent, out: StepOutput) -> None:
        before = [s for t, s in self._history if t < event.onset_time]
        self.reference_kw = before[-1] if before else (
            self._history[0][1] if self._history else measured_kw - event.deviation_kw)
        self.attack_active = True
        out.alerts.append(Alert(time=time, kind="attack_detected",
                                deviation_kw=event.deviation_kw,
                                detail=f"onset {event.onset_time:g} s, reference "
                                f"{self.reference_kw:.1f} kW"))
        if self.config.mitigation:
            self.mitigating = True
            self.mitigator.side = 1 if event.deviation_kw > 0 else -1
            out.alerts.append(Alert(time=time, kind="mitigation_started",
                                    deviation_kw=event.deviation_kw))
            out.update = self._mitigate(time, measured_kw, schedule, "attack detected")

    def _end(self, time: float, deviation_kw: float, out: StepOutput) -> None:
        out.alerts.append(Alert(time=time, kind="attack_cleared", deviation_kw=deviation_kw))
        if self.mitigating:
            self.mitigator.reset()
            self.mitigating = False
            out.update = self.mitigator.message(time, "attack cleared")
            out.alerts.append(Alert(time=time, kind="mitigation_ended",
                                    deviation_kw=deviation_kw))
        self.attack_active = False
        self.reference_kw = None
        self.detector.reset()

    def step(self, time: float, measured_kw: float) -> StepOutput:
        out = StepOutput()
        if self._update_scores(time):
            out.scores = Scores(time=time, scores=self.smo_scores.snapshot())
            if self.house_scores.agents:
                out.house_scores = HouseScores(time=time, houses=self.house_scores.snapshot())
        step = time - self._last_time if self._last_time is not None else 0.0
        self._last_time = time
        schedule = self.schedule_at(time - self.config.schedule_lag_steps * step)
        scheduled = self.scheduled_kw(schedule) if schedule is not None else measured_kw
        armed = schedule is not None and time >= self.config.warmup_s
        event = self.detector.update(time, measured_kw, scheduled) if armed else None
        if not self.attack_active:
            if event is not None and event.kind == "attack_detected":
                self._start(time, measured_kw, schedule, event, out)
        elif event is not None and event.kind == "attack_cleared" and (
                not self.mitigating or self.config.end_on_schedule_match):
            self._end(time, event.deviation_kw, out)
        elif self.mitigating and self._update_due(time, schedule):
            assert self.reference_kw is not None
            update = self._mitigate(time, measured_kw, schedule, "mitigation")
            delta = self.reference_kw - measured_kw
            if self.mitigator.restored() and abs(delta) <= self.detector.threshold(
                    self.reference_kw):
                self._end(time, -delta, out)  # back at baseline coefficients and import
            else:
                out.update = update
        self._history.append((time, scheduled))
        fa, fb = self.mitigator.factor_alpha, self.mitigator.factor_beta
        ref = self.reference_kw if self.reference_kw is not None else scheduled
        out.state = MitigationState(
            time=time, detected=self.attack_active, mitigating=self.mitigating,
            measured_kw=measured_kw, scheduled_kw=scheduled, reference_kw=ref,
            delta_kw=ref - measured_kw, xi_factor=self.mitigator.factor_xi,
            alpha_factor_mean=float(np.mean(list(fa.values()))) if fa else 1.0,
            beta_factor_mean=float(np.mean(list(fb.values()))) if fb else 1.0,
            updates=self.mitigator.updates, agents_lost=self.lost)
        return out
