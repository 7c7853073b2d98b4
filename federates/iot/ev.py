"""Electric vehicles with daily availability windows, V1G and V2G (vectorised).

Each EV is plugged in from `arrival_h` until `departure_h` the next morning; on arrival its
SOC is `soc_arrival`; it must reach `soc_target` by departure. Power is signed (load
convention, + charging); V2G units may discharge. The feasible power keeps the target
reachable at full charging power for the rest of the window ("laxity" bound).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EvParams:
    capacity_kwh: np.ndarray
    charger_kw: np.ndarray
    eta: np.ndarray  # charging (and discharging) efficiency
    arrival_h: np.ndarray  # hour of day, e.g. 18.2
    departure_h: np.ndarray  # hour of the next morning, e.g. 7.5
    soc_arrival: np.ndarray
    soc_target: np.ndarray
    v2g: np.ndarray  # bool
    soc_min: float = 0.1


def connected(p: EvParams, t: float) -> np.ndarray:
    """Plugged in at time t (overnight window arrival -> departure)."""
    h = np.mod(t / 3600.0, 24.0)
    return (h >= p.arrival_h) | (h < p.departure_h)


def hours_to_departure(p: EvParams, t: float) -> np.ndarray:
    h = np.mod(t / 3600.0, 24.0)
    return np.mod(p.departure_h - h, 24.0)


def power_limits(p: EvParams, soc: np.ndarray, t: float, dt: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(p_min, p_max) for a step of dt seconds starting at t; zero when unplugged.

    p_min keeps the target reachable: after this step, charging at full power for the
    remaining window must still reach soc_target.
    """
    h = dt / 3600.0
    plugged = connected(p, t) & (hours_to_departure(p, t) >= h - 1e-9)
    e = soc * p.capacity_kwh
    e_target = p.soc_target * p.capacity_kwh
    # whole steps left after this one (the last partial step before departure is unplugged)
    rest = np.floor(np.maximum(hours_to_departure(p, t) - h, 0.0) / h + 1e-9) * h
    e_after_min = e_target - p.charger_kw * p.eta * rest  # energy needed at the end of step
    p_max = np.clip((p.capacity_kwh * 1.0 - e) / (p.eta * h), 0.0, p.charger_kw)
    need = (e_after_min - e) / h
    lo_charge = np.where(need > 0, need / p.eta, need * p.eta)
    floor = -(e - p.soc_min * p.capacity_kwh) * p.eta / h
    lo = np.maximum(lo_charge, np.where(p.v2g, np.maximum(-p.charger_kw, floor), 0.0))
    p_min = np.minimum(lo, p_max)
    return np.where(plugged, p_min, 0.0), np.where(plugged, p_max, 0.0)


def uncontrolled_kw(p: EvParams, soc: np.ndarray, t: float, dt: float) -> np.ndarray:
    """Plug-and-charge at full power until the target SOC (as fast as possible)."""
    h = dt / 3600.0
    need = np.maximum(p.soc_target * p.capacity_kwh - soc * p.capacity_kwh, 0.0) / (p.eta * h)
    p_min, p_max = power_limits(p, soc, t, dt)
    return np.clip(np.minimum(need, p.charger_kw), p_min, p_max)


def ev_step(p: EvParams, soc: np.ndarray, p_cmd: np.ndarray, t: float, dt: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Clip to limits, integrate SOC; reset SOC to soc_arrival for cars arriving in the step."""
    p_min, p_max = power_limits(p, soc, t, dt)
    pw = np.clip(p_cmd, p_min, p_max)
    h = dt / 3600.0
    de = np.where(pw >= 0, pw * p.eta, pw / p.eta) * h
    new = soc + de / p.capacity_kwh
    h0, h1 = np.mod(t / 3600.0, 24.0), np.mod((t + dt) / 3600.0, 24.0)
    arrives = (h0 < p.arrival_h) & ((h1 >= p.arrival_h) | (h1 < h0))
    return pw, np.where(arrives, p.soc_arrival, new)


def draw_evs(rng: np.random.Generator, n: int, v2g_share: float = 0.0) -> EvParams:
    """Commuter EVs: 40-80 kWh, L2 chargers, evening arrival, morning departure."""
    cap = rng.uniform(40.0, 80.0, n)
    charger = rng.choice([3.3, 7.2, 11.0], size=n, p=[0.2, 0.6, 0.2])
    arrival = np.clip(rng.normal(18.0, 1.5, n), 15.0, 22.5)
    departure = np.clip(rng.normal(7.5, 0.75, n), 5.5, 9.5)
    target = np.full(n, 0.9)
    window = np.mod(departure - arrival, 24.0) - 0.5  # keep half an hour of slack
    reachable = target - charger * 0.92 * window / cap
    return EvParams(
        capacity_kwh=cap, charger_kw=charger, eta=np.full(n, 0.92), arrival_h=arrival,
        departure_h=departure,
        soc_arrival=np.maximum(rng.uniform(0.25, 0.6, n), reachable),  # target reachable
        soc_target=target, v2g=rng.random(n) < v2g_share,
    )
