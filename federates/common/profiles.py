"""Built-in daily profiles and CSV profiles, as functions of time in seconds.

Built-ins are deterministic so runs are reproducible without data files:
- `residential` / `commercial`: hourly per-unit load shapes (peak 1.0) typical of US
  feeders in summer (residential: morning shoulder, evening peak near 19:00; commercial:
  flat office-hours plateau). Values between hours are interpolated linearly and the day
  wraps around.
- `pv_clear_sky`: per-unit PV output from the solar elevation of a clear day (cosine of the
  zenith angle from declination and hour angle), zero at night, 1.0 at solar noon of the
  summer solstice at the configured latitude.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

DAY_S = 86_400.0

RESIDENTIAL = (
    0.52, 0.47, 0.44, 0.43, 0.44, 0.49, 0.60, 0.70, 0.70, 0.66, 0.64, 0.64,
    0.64, 0.65, 0.68, 0.73, 0.80, 0.90, 0.98, 1.00, 0.97, 0.89, 0.76, 0.62,
)
COMMERCIAL = (
    0.42, 0.40, 0.39, 0.39, 0.41, 0.47, 0.60, 0.78, 0.91, 0.97, 1.00, 1.00,
    0.99, 1.00, 0.99, 0.96, 0.90, 0.79, 0.66, 0.58, 0.53, 0.49, 0.46, 0.44,
)
HOURLY = {"residential": RESIDENTIAL, "commercial": COMMERCIAL}
BUILTIN = (*HOURLY, "pv_clear_sky", "flat")


def hourly_shape(values: tuple[float, ...], t: np.ndarray) -> np.ndarray:
    """Linear interpolation of a 24-value hourly shape at times t [s], wrapping at midnight."""
    hours = (np.asarray(t, dtype=float) % DAY_S) / 3600.0
    knots = np.arange(25, dtype=float)
    return np.interp(hours, knots, np.append(values, values[0]))


def clear_sky_pv(t: np.ndarray, latitude_deg: float = 35.0, day_of_year: int = 172) -> np.ndarray:
    """Per-unit clear-sky PV output (cosine of zenith, clipped at 0), normalised to 1 at noon."""
    lat = math.radians(latitude_deg)
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + day_of_year) / 365.0)
    hour_angle = np.radians(15.0 * ((np.asarray(t, dtype=float) % DAY_S) / 3600.0 - 12.0))
    a, b = math.sin(lat) * math.sin(decl), math.cos(lat) * math.cos(decl)
    cos_zenith = a + b * np.cos(hour_angle)
    noon = a + b
    return np.clip(cos_zenith, 0.0, None) / noon


@lru_cache(maxsize=32)
def _read_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(path)
    missing = {"time_s", "value"} - set(frame.columns)
    if missing:
        raise ValueError(f"profile CSV {path}: missing column(s) {sorted(missing)}; "
                         "expected columns 'time_s' (seconds since start) and 'value'")
    times = frame["time_s"].to_numpy(dtype=float)
    if np.any(np.diff(times) <= 0):
        raise ValueError(f"profile CSV {path}: 'time_s' must be strictly increasing")
    return times, frame["value"].to_numpy(dtype=float)


def check_profile(field: str, name: str) -> None:
    """Compile-time check of a profile name: a built-in one, or a CSV that opens and parses
    (columns time_s, value; time_s strictly increasing)."""
    if name.endswith(".csv"):
        from federates.checks import read_csv

        read_csv(field, name, {"value"}, time_columns=("time_s",))
    elif name not in BUILTIN:
        raise ValueError(f"{field}: unknown profile {name!r}; expected one of {list(BUILTIN)} "
                         "or a .csv path")


def profile_values(name: str, t: np.ndarray | float, **options: float) -> np.ndarray:
    """Values of a built-in profile or of a CSV file (`name` ending in .csv) at times t [s].

    CSV profiles hold columns `time_s, value`, are interpolated linearly and held constant
    beyond their ends.
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    if name.endswith(".csv"):
        if not Path(name).is_file():
            raise FileNotFoundError(f"profile CSV not found: {name}")
        times, values = _read_csv(name)
        return np.interp(t, times, values)
    if name in HOURLY:
        return hourly_shape(HOURLY[name], t)
    if name == "pv_clear_sky":
        latitude = options.get("latitude_deg", 35.0)
        return clear_sky_pv(t, latitude, int(options.get("day_of_year", 172)))
    if name == "flat":
        return np.ones_like(t)
    raise ValueError(f"unknown profile {name!r}; expected one of {list(BUILTIN)} or a .csv path")
