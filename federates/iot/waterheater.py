"""One-node electric water heater (GridLAB-D 'onenode' tank), vectorised.

    C dT/dt = -UA (T - T_amb) - mdot c (T - T_in) + Q

with piecewise-constant draw mdot and element heat Q has the exact solution
T(t) = T_ss + (T0 - T_ss) exp(-G t / C), G = UA + mdot c, T_ss = (UA T_amb + mdot c T_in + Q) / G.
Units: C [kJ/K], UA and mdot c [kW/K], Q [kW], T [degC], t [s].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WATER_KJ_PER_L_K = 4.186  # 1 L of water ~ 1 kg
DRAW_SHAPE = np.array([  # share of daily hot water per hour (residential, morning/evening peaks)
    0.010, 0.006, 0.004, 0.004, 0.006, 0.020, 0.070, 0.100, 0.080, 0.060, 0.045, 0.040,
    0.040, 0.035, 0.030, 0.030, 0.035, 0.050, 0.070, 0.080, 0.070, 0.055, 0.035, 0.025])
DRAW_SHAPE = DRAW_SHAPE / DRAW_SHAPE.sum()


@dataclass
class TankParams:
    volume_l: np.ndarray
    ua_kw_k: np.ndarray
    element_kw: np.ndarray
    setpoint_c: np.ndarray
    deadband_c: np.ndarray
    t_min_c: np.ndarray  # lowest acceptable delivery temperature (comfort)
    t_max_c: np.ndarray  # highest allowed tank temperature (scald limit)
    daily_draw_l: np.ndarray
    skew_s: np.ndarray  # per-heater shift of the draw schedule [s]
    inlet_c: float = 15.0
    ambient_c: float = 20.0

    @property
    def capacity_kj_k(self) -> np.ndarray:
        return self.volume_l * WATER_KJ_PER_L_K


def draw_rate_kw_k(p: TankParams, t: float) -> np.ndarray:
    """mdot c [kW/K] of every heater at time t (hourly shape, skewed, linear interpolation)."""
    hours = np.mod((t - p.skew_s) / 3600.0, 24.0)
    shape = np.interp(hours, np.arange(25.0), np.append(DRAW_SHAPE, DRAW_SHAPE[0]))
    litres_per_s = p.daily_draw_l * shape / 3600.0
    return litres_per_s * WATER_KJ_PER_L_K


def tank_step(p: TankParams, temp: np.ndarray, q_kw: np.ndarray, mdot_c: np.ndarray, dt: float
              ) -> np.ndarray:
    """Exact tank temperature after dt seconds of constant element heat and draw."""
    g = p.ua_kw_k + mdot_c
    t_ss = (p.ua_kw_k * p.ambient_c + mdot_c * p.inlet_c + q_kw) / g
    return t_ss + (temp - t_ss) * np.exp(-g * dt / p.capacity_kj_k)


def tank_affine(p: TankParams, temp: np.ndarray, mdot_c: np.ndarray, dt: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) with T(dt) = a + b * q for constant element heat q [kW]."""
    g = p.ua_kw_k + mdot_c
    decay = np.exp(-g * dt / p.capacity_kj_k)
    a = (p.ua_kw_k * p.ambient_c + mdot_c * p.inlet_c) / g * (1 - decay) + temp * decay
    return a, (1 - decay) / g


def tank_thermostat(temp: np.ndarray, on: np.ndarray, p: TankParams) -> np.ndarray:
    """Element on below setpoint - deadband, off above the setpoint."""
    return np.where(temp < p.setpoint_c - p.deadband_c, True,
                    np.where(temp > p.setpoint_c, False, on))


def draw_tanks(rng: np.random.Generator, n: int) -> TankParams:
    """50-gal (189 L) tanks with 4.5 kW elements, GridLAB-D-like losses and setpoints."""
    volume = rng.choice([150.0, 189.0, 227.0], size=n, p=[0.3, 0.5, 0.2])
    setpoint = rng.uniform(49.0, 54.0, n)
    return TankParams(
        volume_l=volume,
        ua_kw_k=rng.uniform(2.0, 3.0, n) * 5.27528e-4,  # 2-3 Btu/h/degF
        element_kw=rng.choice([3.8, 4.5, 5.5], size=n, p=[0.2, 0.6, 0.2]),
        setpoint_c=setpoint,
        deadband_c=rng.uniform(2.5, 3.5, n),
        t_min_c=setpoint - 8.0,
        t_max_c=np.full(n, 60.0),
        daily_draw_l=rng.lognormal(np.log(200.0), 0.35, n),
        skew_s=rng.normal(0.0, 1800.0, n),
    )
