"""Attack schedule: declared attacks -> resolved targets -> commands and cut links over time.

Pure (no HELICS). An `AttackSpec` names when (start, end or open), what (LA: load
alteration, DG: distributed-generation attack), where (PMA: whole primary-feeder buses,
SMA: individual houses) and how targets are chosen:

- 'buses': the listed buses (PMA) or every house on them (SMA);
- 'agents': the listed houses (SMA);
- 'random_share': a seeded random share of the buses (PMA) or of the houses (SMA),
  optionally restricted to `buses`;
- 'most_vulnerable': MadIoT-style, the buses whose loss raises the PCC import most -- for DG
  the buses with the most local generation, for LA the most controllable load -- taken in
  that order until their capacity covers `scale_kw` (or exactly `count` buses).

`AttackPlan` turns resolved attacks into `AttackCommand`s at their start/stop edges and
tells which buses/houses have their communication cut or delayed at a given time.
Times are seconds since scenario start (strings such as '90s', '15min', '2h' accepted).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from federates.messages import AttackCommand, AttackType

_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*$")


def parse_seconds(value: float | int | str) -> float:
    """90 -> 90.0, '90s' -> 90.0, '15min' -> 900.0, '2h' -> 7200.0."""
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.match(str(value).lower())
    if not m or m.group(2) not in ("", *_UNITS):
        raise ValueError(f"expected seconds or a duration like '90s', '15min', '2h'; got {value!r}")
    return float(m.group(1)) * _UNITS.get(m.group(2), 1.0)


class TargetSpec(BaseModel):
    """Which buses or houses an attack hits."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["buses", "agents", "random_share", "most_vulnerable"] = Field(
        "buses", description="How targets are chosen: the listed buses, the listed houses, a "
        "seeded random share, or (MadIoT-style) the buses with the most local generation (DG) "
        "or controllable load (LA) until their capacity covers scale_kw.")
    buses: list[str] = Field(default_factory=list, description="Buses, or the pool to draw from.")
    agents: list[str] = Field(default_factory=list, description="House ids (mode 'agents').")
    share: float = Field(0.1, gt=0, le=1, description="Share drawn in mode 'random_share'.")
    count: int | None = Field(None, ge=1, description="'most_vulnerable': number of buses.")
    seed: int = Field(0, description="Seed of the random draw (mode 'random_share').")


class AttackSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field("attack", description="Name in the attack table and the records.")
    start: float = Field(description="Start time [s] (or '2h', '30min').")
    end: float | None = Field(None, description="End time [s]; None = lasts until the end.")
    type: AttackType = Field(description="LA: load altering (devices forced on or "
                             "setpoints shifted); DG: distributed generation tripped.")
    surface: Literal["PMA", "SMA"] = Field("PMA", description="Attack surface: primary "
                                           "(PMA) or secondary market agents (SMA).")
    targets: TargetSpec = Field(default_factory=TargetSpec)
    scale_kw: float = Field(description="Total power change the attack aims at [kW], load "
                            "convention (a lost generation of 45 kW is +45).")
    setpoint_shift_c: float = Field(
        0.0, description="LA only: shift thermostat setpoints by this many degC instead of "
        "forcing devices on/off (negative = more cooling).")
    comm_cut: bool = Field(False, description="Drop all messages to/from the attacked agents.")
    comm_delay_s: float = Field(0.0, ge=0, description="Delay their messages instead [s].")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _seconds(cls, v):
        return None if v is None else parse_seconds(v)

    @model_validator(mode="after")
    def _check(self) -> AttackSpec:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"attack {self.id!r}: end ({self.end}) must be after start "
                             f"({self.start})")
        if self.targets.mode == "agents" and self.surface != "SMA":
            raise ValueError(f"attack {self.id!r}: targets.mode 'agents' needs surface 'SMA'")
        return self


class AttackSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attacks: list[AttackSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> AttackSchedule:
        ids = [a.id for a in self.attacks]
        if len(set(ids)) != len(ids):
            raise ValueError(f"attack ids must be unique, got {ids}")
        return self


@dataclass
class FeederData:
    """What target selection may know about the feeder (from the population / feeder)."""

    buses: list[str]
    generation_kw: dict[str, float] = field(default_factory=dict)
    load_kw: dict[str, float] = field(default_factory=dict)
    agents: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedAttack:
    id: str
    start: float
    end: float | None
    type: AttackType
    surface: str
    buses: tuple[str, ...]
    agents: tuple[str, ...]
    scale_kw: float
    comm_cut: bool
    comm_delay_s: float
    setpoint_shift_c: float = 0.0

    def active(self, time: float) -> bool:
        return self.start <= time and (self.end is None or time < self.end)

    def command(self, time: float, action: Literal["start", "stop"]) -> AttackCommand:
        return AttackCommand(time=time, attack_id=self.id, action=action, type=self.type,
                             buses=list(self.buses), agents=list(self.agents),
                             scale_kw=self.scale_kw, setpoint_shift_c=self.setpoint_shift_c)


def most_vulnerable(
    capacity_kw: Mapping[str, float], scale_kw: float, count: int | None = None,
    pool: Sequence[str] | None = None,
) -> list[str]:
    """Buses by decreasing capacity (ties by name) until they cover `scale_kw` / `count`."""
    names = [b for b in (pool or capacity_kw) if capacity_kw.get(b, 0.0) > 0]
    ranked = sorted(names, key=lambda b: (-capacity_kw[b], b))
    if count is not None:
        return ranked[:count]
    chosen, total = [], 0.0
    for b in ranked:
        if total >= abs(scale_kw):
            break
        chosen.append(b)
        total += capacity_kw[b]
    return chosen


def _draw(items: Sequence[str], share: float, rng: np.random.Generator) -> list[str]:
    if not items:
        return []
    k = max(1, int(round(share * len(items))))
    idx = sorted(rng.choice(len(items), size=min(k, len(items)), replace=False))
    return [items[i] for i in idx]


def resolve(spec: AttackSpec, data: FeederData) -> ResolvedAttack:
    """Choose the concrete buses (PMA) or houses (SMA) an attack hits."""
    t = spec.targets
    pool = list(t.buses) or list(data.buses)
    unknown = sorted(set(t.buses) - set(data.buses)) if data.buses else []
    if unknown:
        raise ValueError(f"attack {spec.id!r}: unknown buses {unknown}")
    rng = np.random.default_rng(t.seed)
    buses: list[str] = []
    agents: list[str] = []
    if t.mode == "buses":
        buses = list(t.buses)
    elif t.mode == "agents":
        agents = list(t.agents)
    elif t.mode == "random_share":
        if spec.surface == "PMA":
            buses = _draw(pool, t.share, rng)
        else:
            houses = [a for b in pool for a in data.agents.get(b, [])]
            agents = _draw(houses, t.share, rng)
    else:
        cap = data.generation_kw if spec.type == AttackType.DISTRIBUTED_GENERATION else data.load_kw
        buses = most_vulnerable(cap, spec.scale_kw, t.count, pool)
    if spec.surface == "SMA" and not agents:
        agents = [a for b in buses for a in data.agents.get(b, [])]
    if spec.surface == "SMA" and not buses:
        owner = {a: b for b, lst in data.agents.items() for a in lst}
        buses = list(dict.fromkeys(owner[a] for a in agents if a in owner))
    return ResolvedAttack(spec.id, spec.start, spec.end, spec.type, spec.surface, tuple(buses),
                          tuple(agents), spec.scale_kw, spec.comm_cut, spec.comm_delay_s,
                          spec.setpoint_shift_c)


@dataclass
class LinkState:
    """Communication state of the attacked agents at one time."""

    cut_buses: set[str] = field(default_factory=set)
    cut_agents: set[str] = field(default_factory=set)
    delay_buses: dict[str, float] = field(default_factory=dict)
    delay_agents: dict[str, float] = field(default_factory=dict)


@dataclass
class AttackPlan:
    attacks: list[ResolvedAttack]

    @classmethod
    def build(cls, schedule: AttackSchedule, data: FeederData) -> AttackPlan:
        return cls([resolve(a, data) for a in schedule.attacks])

    def active(self, time: float) -> list[ResolvedAttack]:
        return [a for a in self.attacks if a.active(time)]

    def commands(self, previous: float | None, time: float) -> list[AttackCommand]:
        """Start/stop commands for the edges in (previous, time] (previous None = first step)."""
        was = {a.id for a in self.active(previous)} if previous is not None else set()
        now = {a.id for a in self.active(time)}
        out = [a.command(time, "stop") for a in self.attacks if a.id in was - now]
        out += [a.command(time, "start") for a in self.attacks if a.id in now - was]
        return out

    def links(self, time: float) -> LinkState:
        state = LinkState()
        for a in self.active(time):
            if a.comm_cut:
                state.cut_buses.update(a.buses if a.surface == "PMA" else ())
                state.cut_agents.update(a.agents if a.surface == "SMA" else ())
            elif a.comm_delay_s > 0:
                for b in a.buses if a.surface == "PMA" else ():
                    state.delay_buses[b] = max(state.delay_buses.get(b, 0.0), a.comm_delay_s)
                for g in a.agents if a.surface == "SMA" else ():
                    state.delay_agents[g] = max(state.delay_agents.get(g, 0.0), a.comm_delay_s)
        return state

    def all_link_targets(self) -> tuple[list[str], list[str]]:
        """Buses and houses whose links some attack may cut or delay (filters to pre-register)."""
        buses: dict[str, None] = {}
        agents: dict[str, None] = {}
        for a in self.attacks:
            if a.comm_cut or a.comm_delay_s > 0:
                if a.surface == "PMA":
                    buses.update(dict.fromkeys(a.buses))
                else:
                    agents.update(dict.fromkeys(a.agents))
        return list(buses), list(agents)
