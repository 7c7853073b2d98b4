"""Seeded synthetic hourly series for the envelope study (the seed's Midwest data are not
available): feeder load multiplier with a daily and weekly shape, per-load noise, a PV bell
times daily cloudiness and an EV station with an evening peak (spec §6 "Profiles").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from federates.doe.case import Case
from federates.doe.snapshot import Snapshotter


@dataclass
class Series:
    hours: np.ndarray
    m: np.ndarray
    """(T,) feeder load multiplier."""
    p_load: np.ndarray
    """(T, n_loads) kW."""
    q_load: np.ndarray
    p_lo: np.ndarray
    """(T, n_der) lower forecast limit of every DER, kW."""
    p_hi: np.ndarray

    def __len__(self) -> int:
        return len(self.hours)


def _bump(h: np.ndarray, centre: float, width: float) -> np.ndarray:
    d = (h - centre + 12.0) % 24.0 - 12.0
    return np.exp(-0.5 * (d / width) ** 2)


def load_multiplier(hours: np.ndarray, m_peak: float, rng: np.random.Generator) -> np.ndarray:
    """Daily shape (morning and evening peaks), weekends 10 % lower, peak = ``m_peak``."""
    h = hours % 24
    shape = 0.45 + 0.25 * _bump(h, 8.0, 2.0) + 0.55 * _bump(h, 19.0, 2.5) + 0.1 * _bump(h, 13, 3)
    weekend = np.where((hours // 24) % 7 >= 5, 0.9, 1.0)
    daily = rng.uniform(0.9, 1.05, size=int(hours.max()) // 24 + 1)[(hours // 24).astype(int)]
    m = shape * weekend * daily * rng.uniform(0.97, 1.03, size=len(hours))
    return m * (m_peak / m.max())


def build(snap: Snapshotter, n_hours: int, m_peak: float, seed: int) -> Series:
    """The study's series: loads follow ``m`` (per-load ±10 %), PV and EV limits per Table I."""
    case: Case = snap.case
    rng = np.random.default_rng(seed)
    hours = np.arange(n_hours, dtype=float)
    m = load_multiplier(hours, m_peak, rng)
    eps = rng.uniform(0.9, 1.1, size=(n_hours, len(snap.base_p_kw)))
    p = m[:, None] * eps * snap.base_p_kw
    q = m[:, None] * eps * snap.base_q_kvar * rng.uniform(0.95, 1.05, size=p.shape)
    h = hours % 24
    cloud = rng.uniform(0.3, 1.0, size=n_hours // 24 + 1)[(hours // 24).astype(int)]
    sun = np.clip(np.cos((h - 12.5) / 6.5 * np.pi / 2), 0, None) ** 2
    presence = np.clip(0.15 + 0.35 * _bump(h, 12.5, 3.0) + 0.85 * _bump(h, 19.0, 2.0)
                       + rng.normal(0, 0.05, n_hours), 0.0, 1.0)
    lo, hi = case.p_bounds()
    p_lo = np.zeros((n_hours, case.n_der))
    p_hi = np.zeros((n_hours, case.n_der))
    for j, d in enumerate(case.ders):
        if d.p_min_kw >= 0.0:  # a generator (PV): forecast = bell × cloudiness
            p_hi[:, j] = hi[j] * np.clip(sun * cloud * rng.uniform(0.9, 1.0, n_hours), 0, 1)
            p_lo[:, j] = lo[j]
        else:  # an EV station: connected vehicles can charge (p < 0) or discharge
            p_hi[:, j] = hi[j] * presence
            p_lo[:, j] = lo[j] * presence
    return Series(hours, m, p, q, p_lo, p_hi)


def calibrate_peak(snap: Snapshotter, target_a: float, lo: float = 0.2,
                   hi: float = 1.5, iters: int = 25) -> float:
    """Load multiplier at which the largest line current (DERs at 0) equals ``target_a``."""
    zero = np.zeros(snap.case.n_der)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        meas = snap.solve(mid * snap.base_p_kw, mid * snap.base_q_kvar, zero)
        if meas is not None and meas.i_a.max() < target_a:
            lo = mid
        else:
            hi = mid
    return lo
