"""Day profiles (irradiance, temperature, fixed load, price) and their Monte Carlo noise.

A :class:`Day` holds everything a feasibility check needs besides the PV placement: per-bus
PV availability (kW per kW installed), per-bus load multipliers on the nominal loads, the
outdoor temperature and the PCC price, all on the study's time grid. The clear summer day
matches the project's built-in `summer` weather (22-36 degC, 950 W/m2 clear-sky arch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runner.studies.hosting_capacity.config import Config

LOAD_SHAPE = np.array([  # hourly residential non-HVAC load (peak 19:00), relative
    0.62, 0.55, 0.52, 0.50, 0.52, 0.62, 0.85, 1.05, 1.00, 0.92, 0.88, 0.88,
    0.90, 0.88, 0.88, 0.95, 1.10, 1.35, 1.55, 1.62, 1.55, 1.38, 1.10, 0.80])
LOAD_SHAPE = LOAD_SHAPE / LOAD_SHAPE.max()


@dataclass(frozen=True)
class Day:
    """Inputs of one day on the study grid (T steps, B network buses)."""

    hours: np.ndarray  # (T,) hour of day at the start of each step
    pv_avail: np.ndarray  # (T, B) available PV output per kW installed [-]
    load_mult: np.ndarray  # (T, B) multiplier on each bus's nominal load [-]
    t_out_c: np.ndarray  # (T,) outdoor temperature [degC]
    price: np.ndarray  # (T,) PCC price [$/kWh]


def step_hours(cfg: Config) -> np.ndarray:
    return np.mod(cfg.start_h + np.arange(cfg.n_steps) * cfg.dt_h, 24.0)


def clear_sky(cfg: Config, hours: np.ndarray) -> np.ndarray:
    """Clear-sky PV availability: a sine arch between sunrise and sunset to the power 1.2,
    evaluated at mid-step, times peak irradiance / 1000 W/m2."""
    mid = hours + cfg.dt_h / 2
    x = (mid - cfg.sunrise_h) / (cfg.sunset_h - cfg.sunrise_h)
    arch = np.where((x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0, 1)), 0.0)
    return cfg.pv_peak_w_m2 / 1000.0 * arch**1.2


def outdoor_temperature(cfg: Config, hours: np.ndarray) -> np.ndarray:
    """Half-cosine rise from the minimum at 05:30 to the maximum at 15:30, fall overnight."""
    t_min, t_max = cfg.t_out_range_c
    h_min, h_max = 5.5, 15.5
    rise = h_max - h_min
    phase = np.mod(hours - h_min, 24.0)
    frac = np.where(phase <= rise, phase / rise, 1.0 - (phase - rise) / (24.0 - rise))
    return t_min + (t_max - t_min) * 0.5 * (1.0 - np.cos(np.pi * frac))


def load_shape(hours: np.ndarray) -> np.ndarray:
    """Relative fixed load (1 at the daily peak), linear between hourly values."""
    return np.interp(hours, np.arange(25.0), np.append(LOAD_SHAPE, LOAD_SHAPE[0]))


def load_scale(cfg: Config, p_kw: np.ndarray, q_kvar: np.ndarray) -> float:
    """Factor on the nominal loads that puts the day's peak total |S| at ``peak_load_kva``."""
    s_nom = float(np.hypot(p_kw.sum(), q_kvar.sum()))
    if cfg.peak_load_kva is None:
        return 1.0
    return cfg.peak_load_kva / (s_nom * float(LOAD_SHAPE.max()))


def hc_base_kva(cfg: Config, p_kw: np.ndarray, q_kvar: np.ndarray) -> float:
    """The HC base: the feeder's daily peak of total |S| [kVA]."""
    return float(np.hypot(p_kw.sum(), q_kvar.sum())) * load_scale(cfg, p_kw, q_kvar)


def nominal_day(cfg: Config, n_buses: int, scale: float) -> Day:
    """The deterministic day; the worst-case variant holds the load at its daily minimum."""
    hours = step_hours(cfg)
    shape = load_shape(hours)
    if cfg.variant == "worst_case":
        shape = np.full_like(shape, LOAD_SHAPE.min())
    pv = np.repeat(clear_sky(cfg, hours)[:, None], n_buses, axis=1)
    load = np.repeat((scale * shape)[:, None], n_buses, axis=1)
    price = np.asarray(cfg.import_price_by_hour)[np.floor(hours).astype(int) % 24]
    return Day(hours, pv, load, outdoor_temperature(cfg, hours), price)


def sample_day(cfg: Config, base: Day, rng: np.random.Generator) -> Day:
    """One Monte Carlo day: independent Gaussian noise per bus and step (spec A.7).

    PV is clipped to [0, clear sky], load and price multipliers to >= 0.
    """
    t, b = base.pv_avail.shape
    pv = np.clip(base.pv_avail * (1 + cfg.sigma_pv * rng.standard_normal((t, b))),
                 0.0, base.pv_avail)
    load = base.load_mult * np.maximum(1 + cfg.sigma_load * rng.standard_normal((t, b)), 0.0)
    t_out = base.t_out_c + cfg.sigma_t_out_c * rng.standard_normal(t)
    price = base.price * np.maximum(1 + cfg.sigma_price * rng.standard_normal(t), 0.0)
    return Day(base.hours, pv, load, t_out, price)
