"""Device models shared by the static and the dynamic check (spec A.3, A.6.4).

Sign convention: injection = generation - load (kW); batteries and EVs are positive when
discharging, heat pumps are <= 0. Storage follows the spec's single-efficiency model
SOC(t+1) = SOC(t) - P dt eta / E (only net power enters the state of charge).
The uncoordinated ("static") behaviour: batteries on a time-of-use schedule that also
discharges at midday, heat pumps holding the set point (thermostat only), EVs charging at
full power on arrival until the departure target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runner.studies.hosting_capacity.config import Config
from runner.studies.hosting_capacity.placement import Placement
from runner.studies.hosting_capacity.profiles import Day


@dataclass(frozen=True)
class DeviceInjections:
    """(T, B) injections per device class [kW]."""

    bs: np.ndarray
    hp: np.ndarray
    ev: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.bs + self.hp + self.ev


def in_window(hours: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """True where the hour lies in [start, end) (windows may wrap past midnight)."""
    a, b = window
    h = np.mod(hours, 24.0)
    return (h >= a) & (h < b) if a <= b else (h >= a) | (h < b)


def ev_home(cfg: Config, hours: np.ndarray) -> np.ndarray:
    return ~in_window(hours, cfg.ev_away_h)


def thermal_coefficients(cfg: Config) -> tuple[float, float]:
    """(theta, rho): T_in' = theta T_in + (1 - theta)(T_out + rho P_hp), P_hp <= 0."""
    theta = float(np.exp(-cfg.dt_h / (cfg.hp_r_c_per_kw * cfg.hp_c_kwh_per_c)))
    return theta, cfg.hp_r_c_per_kw * cfg.hp_cop


def bs_static_fraction(cfg: Config, hours: np.ndarray) -> np.ndarray:
    """Per-unit battery output (share of rated power): charge in the night window at the
    rate that returns the day's discharged energy, discharge in the TOU windows."""
    dis_h = sum((b - a) % 24 for a, b in cfg.bs_static_discharge_h)
    a, b = cfg.bs_static_charge_h
    charge = min(cfg.bs_static_discharge_frac * dis_h / ((b - a) % 24), 1.0)
    out = np.zeros_like(hours)
    for w in cfg.bs_static_discharge_h:
        out[in_window(hours, w)] = cfg.bs_static_discharge_frac
    out[in_window(hours, cfg.bs_static_charge_h)] = -charge
    return out


def hp_static_unit_kw(cfg: Config, t_out_c: np.ndarray) -> np.ndarray:
    """Per-unit heat-pump power (<= 0) that holds the indoor set point (cooling)."""
    _, rho = thermal_coefficients(cfg)
    return -np.clip((t_out_c - cfg.t_set_c) / rho, 0.0, cfg.hp_rated_kw)


def ev_static_unit_kw(cfg: Config, hours: np.ndarray) -> np.ndarray:
    """Per-unit EV power (<= 0): full power from arrival until the target SOC is reached."""
    need_kwh = max(cfg.ev_target_soc - cfg.soc_init, 0.0) * cfg.ev_energy_kwh / cfg.eta
    home = ev_home(cfg, hours)
    since_arrival = np.mod(hours - cfg.ev_away_h[1], 24.0)
    out = np.zeros_like(hours)
    for t in np.argsort(since_arrival, kind="stable"):
        if need_kwh <= 1e-12:
            break
        if home[t]:
            p = min(cfg.ev_rated_kw, need_kwh / cfg.dt_h)
            out[t] = -p
            need_kwh -= p * cfg.dt_h
    return out


def static_injections(cfg: Config, place: Placement, day: Day) -> DeviceInjections:
    """Uncoordinated device injections over the day, per bus."""
    bs = bs_static_fraction(cfg, day.hours)[:, None] * place.bs_kw[None, :]
    hp = hp_static_unit_kw(cfg, day.t_out_c)[:, None] * place.hp_units[None, :]
    ev = ev_static_unit_kw(cfg, day.hours)[:, None] * place.ev_units[None, :]
    return DeviceInjections(bs, hp, ev)


def soc_path(p_kw: np.ndarray, e_kwh: float, soc0: float, eta: float, dt_h: float
             ) -> np.ndarray:
    """SOC at the start of every step and after the last one (len T + 1)."""
    return soc0 - np.concatenate([[0.0], np.cumsum(p_kw)]) * dt_h * eta / e_kwh
