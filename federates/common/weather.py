"""Outdoor weather for the device models: temperature and irradiance over the day.

Two deterministic built-in days (a hot `summer` day and a cold clear `winter` day) or a CSV
with columns ``hour`` (or ``time_s``), ``temp_c`` and ``ghi_w_m2``. Values are linearly
interpolated and the day repeats, so any run length works. Devices see the value at the
start of each step held constant over the step (piecewise-constant inputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DAY_S = 86400.0


@dataclass(frozen=True)
class Weather:
    """Periodic weather table sampled on `time_s` (seconds from midnight, one day)."""

    name: str
    time_s: np.ndarray
    temp_c: np.ndarray
    ghi_w_m2: np.ndarray

    def at(self, t: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(outdoor temperature [degC], global horizontal irradiance [W/m2]) at time(s) t."""
        tt = np.mod(np.asarray(t, dtype=float), DAY_S)
        xp = np.append(self.time_s, self.time_s[0] + DAY_S)
        temp = np.interp(tt, xp, np.append(self.temp_c, self.temp_c[0]))
        ghi = np.interp(tt, xp, np.append(self.ghi_w_m2, self.ghi_w_m2[0]))
        return temp, ghi


def _clear_sky(hours: np.ndarray, sunrise: float, sunset: float, peak: float) -> np.ndarray:
    """Clear-sky GHI: a sine arch between sunrise and sunset raised to 1.2 (air mass)."""
    x = (hours - sunrise) / (sunset - sunrise)
    arch = np.where((x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0, 1)), 0.0)
    return peak * arch**1.2


def _diurnal(hours: np.ndarray, t_min: float, t_max: float, h_min: float, h_max: float
             ) -> np.ndarray:
    """Temperature rising as a half cosine from h_min to h_max, falling back overnight."""
    rise = h_max - h_min
    fall = 24.0 - rise
    phase = np.mod(hours - h_min, 24.0)
    up = phase <= rise
    frac = np.where(up, phase / rise, 1.0 - (phase - rise) / fall)
    return t_min + (t_max - t_min) * 0.5 * (1.0 - np.cos(np.pi * frac))


def builtin(name: str) -> Weather:
    """The built-in `summer` (22-36 degC, 950 W/m2) or `winter` (-6-6 degC, 480 W/m2) day."""
    hours = np.arange(0.0, 24.0, 0.25)
    if name == "summer":
        temp = _diurnal(hours, 22.0, 36.0, 5.5, 15.5)
        ghi = _clear_sky(hours, 6.0, 20.5, 950.0)
    elif name == "winter":
        temp = _diurnal(hours, -6.0, 6.0, 7.0, 14.5)
        ghi = _clear_sky(hours, 7.5, 17.0, 480.0)
    else:
        raise ValueError(f"unknown built-in weather {name!r}; expected 'summer' or 'winter'")
    return Weather(name, hours * 3600.0, temp, ghi)


def from_csv(path: str | Path) -> Weather:
    """Weather from a CSV with `hour` or `time_s`, `temp_c`, `ghi_w_m2` (one day)."""
    df = pd.read_csv(path)
    if "time_s" in df:
        t = df["time_s"].to_numpy(float)
    elif "hour" in df:
        t = df["hour"].to_numpy(float) * 3600.0
    else:
        raise ValueError(f"{path}: weather CSV needs a 'hour' or 'time_s' column")
    missing = {"temp_c", "ghi_w_m2"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: weather CSV lacks columns {sorted(missing)}")
    t = np.mod(t, DAY_S)
    order = np.argsort(t)
    return Weather(Path(path).stem, t[order], df["temp_c"].to_numpy(float)[order],
                   df["ghi_w_m2"].to_numpy(float)[order])


def load(spec: str) -> Weather:
    """'summer' | 'winter' | path to a CSV."""
    if spec in ("summer", "winter"):
        return builtin(spec)
    return from_csv(spec)
