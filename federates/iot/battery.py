"""Home battery: signed power (load convention, + charging), SOC with efficiencies.

    E' = E - sigma (E - E_min) dt + (eta_c p+ - p- / eta_d) dt

One signed power per battery makes simultaneous charge and discharge impossible. Limits:
|p| <= rating and E stays in [soc_min, soc_max] x capacity over the step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BatteryParams:
    capacity_kwh: np.ndarray
    p_rated_kw: np.ndarray
    eta_c: np.ndarray
    eta_d: np.ndarray
    self_discharge_per_h: np.ndarray
    soc_min: np.ndarray
    soc_max: np.ndarray


def _after_self_discharge(b: BatteryParams, energy_kwh: np.ndarray, dt: float) -> np.ndarray:
    """Self-discharge acts on the energy above the SOC floor (the BMS sleeps below it)."""
    floor = b.soc_min * b.capacity_kwh
    above = np.maximum(energy_kwh - floor, 0.0)
    return energy_kwh - above * b.self_discharge_per_h * dt / 3600.0


def power_limits(b: BatteryParams, energy_kwh: np.ndarray, dt: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(p_min <= 0, p_max >= 0) keeping SOC within limits after a step of dt seconds."""
    h = dt / 3600.0
    e0 = _after_self_discharge(b, energy_kwh, dt)
    room = b.soc_max * b.capacity_kwh - e0
    avail = e0 - b.soc_min * b.capacity_kwh
    p_max = np.clip(room / (b.eta_c * h), 0.0, b.p_rated_kw)
    p_min = -np.clip(avail * b.eta_d / h, 0.0, b.p_rated_kw)
    return p_min, p_max


def battery_step(b: BatteryParams, energy_kwh: np.ndarray, p_cmd: np.ndarray, dt: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Clip the command to the limits; return (p actually drawn [kW], new energy [kWh])."""
    p_min, p_max = power_limits(b, energy_kwh, dt)
    p = np.clip(p_cmd, p_min, p_max)
    h = dt / 3600.0
    e = _after_self_discharge(b, energy_kwh, dt) + (b.eta_c * np.maximum(p, 0.0)
                                     + np.minimum(p, 0.0) / b.eta_d) * h
    return p, e


def draw_batteries(rng: np.random.Generator, p_rated_kw: np.ndarray) -> BatteryParams:
    """Lithium-ion home batteries of the given ratings, 2.7 h of storage (13.5 kWh per 5 kW)."""
    n = len(p_rated_kw)
    return BatteryParams(
        capacity_kwh=p_rated_kw * 2.7,
        p_rated_kw=np.asarray(p_rated_kw, dtype=float),
        eta_c=rng.uniform(0.94, 0.97, n),
        eta_d=rng.uniform(0.94, 0.97, n),
        self_discharge_per_h=np.full(n, 0.02 / 720.0),  # 2 % per month
        soc_min=np.full(n, 0.1),
        soc_max=np.full(n, 0.95),
    )
