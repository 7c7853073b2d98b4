"""GridLAB-D-style draw of house thermal parameters and HVAC sizing (vectorised).

Follows residential/house_e: R-values and air changes from a thermal-integrity class,
geometry from floor area, aspect ratio, stories and window-wall ratio; UA, CA, CM and HM
from those; cooling sized at the design day (95 degF outdoor, 75 degF indoor, design
internal and solar gains, latent fraction, over-sizing), rounded up to 6,000 Btu/h; resistive
heating (and the heat pumps' resistance backup, 'aux') sized at 70 degF indoor / 0 degF
outdoor rounded up to 10,000 Btu/h; heat pumps take the cooling capacity. Every parameter
gets a uniform jitter of +-`jitter` (relative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from federates.iot.thermal import HEAT_PUMP, RESISTANCE, EtpParams, HvacParams

BTUH_TO_KW = 2.9307107e-4
BTUH_F_TO_KW_K = BTUH_TO_KW * 1.8
BTU_F_TO_KJ_K = 1.05505585 * 1.8
SF_TO_M2 = 0.09290304
AIR_DENSITY = 0.0735  # lb/cf
AIR_HEAT_CAPACITY = 0.2402  # Btu/lb/degF
GLAZING_SHGC = 0.67
WINDOW_TRANSMISSION = 0.6
INTERIOR_SURFACE_COEFF = 1.46  # Btu/h/degF/sf
INTERIOR_EXTERIOR_WALL_RATIO = 1.5
DESIGN_PEAK_SOLAR = 195.0  # Btu/h/sf

# class: (Rroof, Rwall, Rfloor, Rdoors, Rwindows, air changes per hour) -- house_e.cpp
THERMAL_INTEGRITY: dict[str, tuple[float, float, float, float, float, float]] = {
    "very_little": (11, 4, 4, 3, 1 / 1.27, 1.5),
    "little": (19, 11, 4, 3, 1 / 0.81, 1.5),
    "below_normal": (19, 11, 11, 3, 1 / 0.81, 1.0),
    "normal": (30, 11, 19, 3, 1 / 0.6, 1.0),
    "above_normal": (30, 19, 11, 3, 1 / 0.6, 1.0),
    "good": (30, 19, 22, 5, 1 / 0.47, 0.5),
    "very_good": (48, 22, 30, 11, 1 / 0.31, 0.5),
}


@dataclass
class HouseDraw:
    """Everything drawn for a set of houses (SI units, see thermal.py)."""

    floor_area_m2: np.ndarray
    integrity: np.ndarray  # index into list(THERMAL_INTEGRITY)
    etp: EtpParams
    hvac: HvacParams
    solar_factor_m2: np.ndarray  # window area x SHGC x transmission [m2]
    design_internal_kw: np.ndarray


def _jit(rng: np.random.Generator, n: int, jitter: float) -> np.ndarray:
    return 1.0 + jitter * rng.uniform(-1.0, 1.0, n)


def draw_houses(
    rng: np.random.Generator,
    n: int,
    integrity_shares: dict[str, float],
    floor_area_sf: tuple[float, float, float] = (1000.0, 1500.0, 2500.0),
    heat_pump_share: float = 0.6,
    cooling_cop: tuple[float, float] = (3.0, 4.0),
    over_sizing: tuple[float, float] = (0.0, 0.2),
    jitter: float = 0.1,
    cooling_design_c: float = 35.0,
    heating_design_c: float = -17.8,
) -> HouseDraw:
    """Draw `n` houses: floor area triangular(min, mode, max) [sf], classes by share."""
    names = list(THERMAL_INTEGRITY)
    unknown = set(integrity_shares) - set(names)
    if unknown:
        raise ValueError(f"unknown thermal integrity classes {sorted(unknown)}; use {names}")
    shares = np.array([integrity_shares.get(k, 0.0) for k in names], dtype=float)
    if shares.sum() <= 0:
        raise ValueError("thermal integrity shares must sum to a positive number")
    cls = rng.choice(len(names), size=n, p=shares / shares.sum())
    table = np.array([THERMAL_INTEGRITY[k] for k in names])[cls]
    r_roof, r_wall, r_floor, r_door, r_win, ach = (table[:, i] * _jit(rng, n, jitter)
                                                   for i in range(6))
    area = rng.triangular(*floor_area_sf, size=n)
    stories = np.where(area > 2000.0, 2.0, 1.0)
    aspect, height, wwr, doors = 1.5, 8.0, 0.15, 4.0
    volume = height * area
    door_area = doors * 3.0 * 78.0 / 12.0
    gross_wall = 2.0 * stories * (aspect + 1.0) * height * np.sqrt(area / aspect / stories)
    window = gross_wall * wwr
    wall = gross_wall - window - door_area
    ceiling = area / stories
    ua_btu = (ceiling / r_roof + ceiling / r_floor + wall / r_wall + window / r_win
              + door_area / r_door + ach * volume * AIR_DENSITY * AIR_HEAT_CAPACITY)
    air_mass = AIR_DENSITY * volume
    ca_btu = 3.0 * AIR_HEAT_CAPACITY * air_mass
    mass_per_sf = rng.uniform(2.5, 4.0, n)  # Btu/degF/sf (PNNL feeder generator)
    cm_btu = mass_per_sf * area - 2.0 * AIR_HEAT_CAPACITY * air_mass
    hm_btu = INTERIOR_SURFACE_COEFF * (wall + gross_wall * INTERIOR_EXTERIOR_WALL_RATIO
                                       + stories * ceiling) * _jit(rng, n, jitter)
    solar_sf = window * GLAZING_SHGC * WINDOW_TRANSMISSION
    internal_btu = 167.09 * area**0.442
    os_factor = rng.uniform(*over_sizing, n)
    cool_sp_f, heat_sp_f = 75.0, 70.0
    t_cool_f, t_heat_f = cooling_design_c * 1.8 + 32.0, heating_design_c * 1.8 + 32.0
    cool_btu = (1 + os_factor) * 1.3 * (ua_btu * (t_cool_f - cool_sp_f) + internal_btu
                                        + DESIGN_PEAK_SOLAR * solar_sf)
    cool_btu = np.ceil(cool_btu / 6000.0) * 6000.0
    aux_btu = np.ceil((1 + os_factor) * ua_btu * (heat_sp_f - t_heat_f) / 10000.0) * 10000.0
    heat_type = np.where(rng.random(n) < heat_pump_share, HEAT_PUMP, RESISTANCE)
    cop = rng.uniform(*cooling_cop, n)
    etp = EtpParams(ua=ua_btu * BTUH_F_TO_KW_K, ca=ca_btu * BTU_F_TO_KJ_K,
                    cm=cm_btu * BTU_F_TO_KJ_K, hm=hm_btu * BTUH_F_TO_KW_K)
    hvac = HvacParams(
        cool_cap_kw=cool_btu * BTUH_TO_KW,
        cool_cop=cop,
        heat_cap_kw=np.where(heat_type == HEAT_PUMP, cool_btu, aux_btu) * BTUH_TO_KW,
        heat_cop=np.where(heat_type == HEAT_PUMP, cop - 0.5, 1.0),
        heat_type=heat_type,
        aux_cap_kw=np.where(heat_type == HEAT_PUMP, aux_btu, 0.0) * BTUH_TO_KW,
    )
    return HouseDraw(area * SF_TO_M2, cls, etp, hvac, solar_sf * SF_TO_M2,
                     internal_btu * BTUH_TO_KW)
