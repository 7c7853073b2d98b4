"""Pure profile player: turns profiles into per-bus injections at any time."""

from __future__ import annotations

import math

import numpy as np

from federates.common.profiles import profile_values
from federates.messages import Injection
from federates.player.config import PlayerConfig, PlayerItem


def q_from_pf(p_kw: np.ndarray, power_factor: float) -> np.ndarray:
    """Reactive power for a power factor; the sign of pf chooses absorb (+) or supply (-) kvar."""
    if abs(power_factor) >= 1.0:
        return np.zeros_like(p_kw)
    tan_phi = math.tan(math.acos(abs(power_factor)))
    return np.abs(p_kw) * tan_phi * math.copysign(1.0, power_factor)


class PlayerModel:
    """Evaluates every configured item at time t; items sharing a profile are vectorised."""

    def __init__(self, config: PlayerConfig):
        self.items: list[PlayerItem] = list(config.items)
        self._groups: dict[tuple, list[int]] = {}
        for i, item in enumerate(self.items):
            key = (item.profile, item.latitude_deg, item.day_of_year)
            self._groups.setdefault(key, []).append(i)
        self._scale = np.array([item.p_kw for item in self.items])

    def injections(self, t: float) -> list[Injection]:
        shape = np.empty(len(self.items))
        for (profile, lat, doy), idx in self._groups.items():
            shape[idx] = profile_values(profile, t, latitude_deg=lat, day_of_year=doy)[0]
        p = shape * self._scale
        out = []
        for item, p_kw in zip(self.items, p, strict=True):
            q = float(q_from_pf(np.array([p_kw]), item.power_factor)[0])
            out.append(Injection(bus=item.bus, p_kw=float(p_kw), q_kvar=q, phases=item.phases))
        return out
