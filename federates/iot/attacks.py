"""Attack commands applied to a population: which houses, and what is done to them.

Target rule: the agents named in the command, plus the agents flagged compromised on the
named buses; when no agent on a named bus is flagged, every agent of that bus is a target
(the bus controller itself is the attack surface). With `scale_kw` != 0 only as many
targets are taken (largest effect first) as needed to reach |scale_kw|.

Effects while the attack lasts (LA targets ignore market setpoints; DG targets' PV and
batteries do, their loads keep following them):
- LA, scale_kw >= 0: HVAC, water heater and EV charging forced on (or, with
  `setpoint_shift_c`, thermostat setpoints shifted instead);
- LA, scale_kw < 0: those devices forced off (thermal rebound follows the release);
- DG: the generation of the targets is taken offline: PV disconnected, batteries may no
  longer discharge (nor exchange reactive power). A battery that was charging when taken
  over keeps that charging power (the attacker freezes its inverter setpoint; SOC limits
  still apply), so the import rises by the generation lost -- PV output plus battery
  discharge -- and not by a charging load that happened to vanish with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from federates.iot.model import PopulationModel, StepResult
from federates.messages import AttackCommand, AttackType


@dataclass
class ActiveAttack:
    houses: np.ndarray
    kind: str  # "on", "off", "shift", "dg"
    shift_c: float = 0.0
    bat_hold_kw: np.ndarray | None = None  # DG: charging power held, per battery [kW]


def targets(m: PopulationModel, cmd: AttackCommand) -> np.ndarray:
    p = m.pop
    named = np.isin(p.agents, cmd.agents)
    on_bus = np.isin(np.array(p.smos)[p.smo_index], cmd.buses)
    flagged = on_bus & p.compromised
    buses_without = ~np.isin(p.smo_index, np.unique(p.smo_index[flagged]))
    return np.flatnonzero(named | flagged | (on_bus & buses_without))


def _effect_kw(m: PopulationModel, last: StepResult | None, kind: str) -> np.ndarray:
    """Expected change in house power [kW, absolute] if the house is taken over."""
    p = m.pop
    n = p.n_houses
    if last is None:
        return np.ones(n)
    eff = np.zeros(n)
    if kind == "dg":  # generation lost: PV output and battery discharge
        np.add.at(eff, p.pv_house, np.maximum(-last.pv_kw, 0.0))
        np.add.at(eff, p.bat_house, np.maximum(-last.bat_kw, 0.0))
        return eff
    if kind == "off":
        eff += last.hvac_kw
        np.add.at(eff, p.wh_house, last.wh_kw)
        np.add.at(eff, p.ev_house, last.ev_kw)
        return eff
    full = np.maximum(p.house.hvac.cool_cap_kw / p.house.hvac.cool_cop, 0.0)
    eff += np.maximum(full - last.hvac_kw, 0.0)
    np.add.at(eff, p.wh_house, p.tank.element_kw - last.wh_kw)
    np.add.at(eff, p.ev_house, np.maximum(p.ev.charger_kw - last.ev_kw, 0.0))
    return eff


def start(m: PopulationModel, cmd: AttackCommand, last: StepResult | None) -> ActiveAttack:
    shift = cmd.setpoint_shift_c
    if cmd.type == AttackType.DISTRIBUTED_GENERATION:
        kind = "dg"
    elif shift != 0.0:
        kind = "shift"
    else:
        kind = "on" if cmd.scale_kw >= 0 else "off"
    houses = targets(m, cmd)
    if cmd.scale_kw != 0 and kind != "shift" and len(houses):
        eff = _effect_kw(m, last, kind)[houses]
        order = np.argsort(-eff, kind="stable")
        k = int(np.searchsorted(np.cumsum(eff[order]), abs(cmd.scale_kw))) + 1
        houses = np.sort(houses[order[:k]])
    hold = None
    if kind == "dg":
        charging = np.maximum(last.bat_kw, 0.0) if last is not None else np.zeros(
            len(m.pop.bat_house))
        hold = np.where(np.isin(m.pop.bat_house, houses), charging, 0.0)
    att = ActiveAttack(houses, kind, shift, hold)
    apply(m, att, on=True)
    return att


def apply(m: PopulationModel, att: ActiveAttack, on: bool) -> None:
    h = att.houses
    if att.kind == "dg":
        m.dg_off[h] = on
        mine = np.isin(m.pop.bat_house, h)
        hold = att.bat_hold_kw if att.bat_hold_kw is not None else np.zeros(mine.shape)
        m.dg_bat_hold[mine] = hold[mine] if on else 0.0
    elif att.kind == "shift":
        m.sp_offset[h] = att.shift_c if on else 0.0
    else:
        m.force[h] = (1 if att.kind == "on" else -1) if on else 0
    if on:
        m.pop.compromised[h] = True
