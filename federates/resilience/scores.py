"""Per-agent trust, commitment and resilience scores, all in [0, 1].

Rules (exponentially weighted moving averages of per-step observations):

- IoT trustability TS: observation o_T = (1 - anomaly) * rho ** missed, where `anomaly` in
  [0, 1] is the agent's behaviour anomaly indicator and `missed` the number of messages the
  agent reports lost; telemetry that was due but never arrived (link down) gives
  o_T = `silent_observation` (0 by default). TS <- (1 - lambda_T) * TS + lambda_T * o_T.
- Commitment CS: observation o_C = max(0, 1 - |achieved - scheduled| / max(|scheduled|, floor)),
  CS <- (1 - lambda_C) * CS + lambda_C * o_C. No response received = no evidence: CS unchanged
  (the lost message already lowers TS).
- Resilience RS: weighted geometric mean RS = TS ** w * CS ** (1 - w) (default), so an agent
  that is untrustable *or* uncommitted scores low; `rule='arithmetic'` gives w TS + (1-w) CS.

Every agent starts at `initial` (1.0: trusted until evidence says otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from federates.messages import AgentScore


class ScoreConfig(BaseModel):
    """Trust (TS), commitment (CS) and resilience (RS) scores of the agents."""

    model_config = ConfigDict(extra="forbid")
    trust_rate: float = Field(0.3, gt=0, le=1, description="EWMA weight lambda_T of TS.")
    commitment_rate: float = Field(
        0.2, gt=0, le=1, description="EWMA weight lambda_C of a new CS sample."
    )
    lost_penalty: float = Field(
        0.5, ge=0, le=1, description="rho: trust observation multiplier per lost message."
    )
    commitment_floor_kw: float = Field(
        1.0, gt=0, description="Smallest schedule magnitude used to normalise response errors [kW]."
    )
    silent_observation: float = Field(
        0.0, ge=0, le=1, description="Trust observation when due telemetry did not arrive.")
    trust_weight: float = Field(0.5, ge=0, le=1, description="w: weight of TS in RS.")
    rule: Literal["geometric", "arithmetic"] = Field(
        "geometric", description="How TS and CS combine into RS: weighted geometric or "
        "arithmetic mean.")
    initial: float = Field(1.0, ge=0, le=1, description="Score of an agent never observed.")


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, float(x)))


def trust_observation(anomaly: float, missed: int, lost_penalty: float) -> float:
    return _clip01(1.0 - _clip01(anomaly)) * lost_penalty ** max(int(missed), 0)


def commitment_observation(scheduled_kw: float, achieved_kw: float, floor_kw: float) -> float:
    return _clip01(1.0 - abs(achieved_kw - scheduled_kw) / max(abs(scheduled_kw), floor_kw))


def ewma(previous: float, observation: float, rate: float) -> float:
    return (1.0 - rate) * previous + rate * observation


def combine(trust: float, commitment: float, weight: float, rule: str = "geometric") -> float:
    """Resilience score from TS and CS (documented rule, result in [0, 1])."""
    if rule == "arithmetic":
        return _clip01(weight * trust + (1.0 - weight) * commitment)
    return _clip01(_clip01(trust) ** weight * _clip01(commitment) ** (1.0 - weight))


@dataclass
class ScoreBook:
    """Scores of a set of agents, updated once per step."""

    config: ScoreConfig = field(default_factory=ScoreConfig)
    trust: dict[str, float] = field(default_factory=dict)
    commitment: dict[str, float] = field(default_factory=dict)

    def add(self, agents: Iterable[str]) -> None:
        for a in agents:
            self.trust.setdefault(a, self.config.initial)
            self.commitment.setdefault(a, self.config.initial)

    @property
    def agents(self) -> list[str]:
        return list(self.trust)

    def update(
        self,
        telemetry: Mapping[str, tuple[float, int]],
        responses: Mapping[str, tuple[float, float]] | None = None,
        expected: Iterable[str] | None = None,
    ) -> None:
        """One step of evidence.

        telemetry: agent -> (anomaly, messages_missed) received this step.
        responses: agent -> (scheduled_kw, achieved_kw) received this step.
        expected: agents whose telemetry was due this step (default: all known agents);
            an expected agent without telemetry gets the `silent_observation`.
        """
        cfg = self.config
        responses = responses or {}
        self.add(telemetry)
        self.add(responses)
        due = set(self.trust if expected is None else expected)
        self.add(due)
        for a in due | set(telemetry):
            if a in telemetry:
                obs = trust_observation(*telemetry[a], cfg.lost_penalty)
            else:
                obs = cfg.silent_observation
            self.trust[a] = ewma(self.trust[a], obs, cfg.trust_rate)
        for a, (sched, achieved) in responses.items():
            obs = commitment_observation(sched, achieved, cfg.commitment_floor_kw)
            self.commitment[a] = ewma(self.commitment[a], obs, cfg.commitment_rate)

    def resilience(self, agent: str) -> float:
        return combine(self.trust[agent], self.commitment[agent], self.config.trust_weight,
                       self.config.rule)

    def resilience_all(self) -> dict[str, float]:
        return {a: self.resilience(a) for a in self.trust}

    def snapshot(self) -> list[AgentScore]:
        return [AgentScore(agent=a, trust=_clip01(self.trust[a]),
                           commitment=_clip01(self.commitment[a]),
                           resilience=self.resilience(a)) for a in self.trust]
