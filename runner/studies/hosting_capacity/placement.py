"""Seeded placement: the PV increment sequence (spec A.6) and the BS/HP/EV populations.

The sequence draws a bus uniformly (with replacement) among candidate buses that are not yet
at the cap and adds U(low, high) kW, truncated at the cap. Level ``n`` of the sequence is the
PV after its first ``n`` increments; levels only grow, so feasibility is monotone in ``n``
and the hosting capacity can be found by bisection. Static and dynamic searches share the
sequence (common random numbers: the static path is a prefix of the dynamic one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from feeders.network import Network
from runner.studies.hosting_capacity.config import Config


@dataclass(frozen=True)
class Placement:
    """PV sequence and device sizes per network bus (B buses, N increments)."""

    inc_bus: np.ndarray  # (N,) bus index of each increment
    inc_kw: np.ndarray  # (N,) kW of each increment
    homes: np.ndarray  # (B,) homes per bus
    bs_kw: np.ndarray  # (B,) battery rated power per bus [kW]
    bs_kwh: np.ndarray  # (B,) battery energy per bus [kWh]
    hp_units: np.ndarray  # (B,) heat pumps per bus
    ev_units: np.ndarray  # (B,) EVs per bus

    @property
    def n_levels(self) -> int:
        return len(self.inc_kw)

    def pv_kw(self, level: int) -> np.ndarray:
        """(B,) installed PV per bus after the first ``level`` increments."""
        out = np.zeros(len(self.homes))
        np.add.at(out, self.inc_bus[:level], self.inc_kw[:level])
        return out

    def total_kw(self, level: int) -> float:
        return float(self.inc_kw[:level].sum())


def candidate_buses(net: Network) -> np.ndarray:
    """All buses except the source and the buses at either end of a regulator or
    substation transformer fed from the source."""
    excluded = {0}
    for k, kind in enumerate(net.branch_kind):
        if kind == "regulator" or (kind == "transformer" and net.from_bus[k] == 0):
            excluded.update((int(net.from_bus[k]), int(net.to_bus[k])))
    return np.array([i for i in range(net.n_buses) if i not in excluded], dtype=int)


def homes_per_bus(net: Network, homes: int) -> np.ndarray:
    """Homes spread over load buses in proportion to nominal kW (largest remainder)."""
    share = np.clip(net.load_p_kw, 0, None) / max(net.load_p_kw.clip(0).sum(), 1e-9)
    raw = homes * share
    out = np.floor(raw).astype(int)
    extra = homes - out.sum()
    out[np.argsort(-(raw - out), kind="stable")[:extra]] += 1
    return out


def pv_sequence(cfg: Config, net: Network, base_kva: float, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """Increments until ``pv_max_share * base_kva`` kW or every candidate is at the cap."""
    cand = candidate_buses(net)
    room = np.full(len(cand), cfg.pv_cap_kw)
    target = cfg.pv_max_share * base_kva
    buses, kws, total = [], [], 0.0
    lo, hi = cfg.pv_step_kw
    while total < target and (room > 1e-9).any():
        open_ = np.flatnonzero(room > 1e-9)
        j = open_[rng.integers(len(open_))]
        kw = min(float(rng.uniform(lo, hi)), float(room[j]))
        room[j] -= kw
        buses.append(int(cand[j]))
        kws.append(kw)
        total += kw
    return np.array(buses, dtype=int), np.array(kws)


def _units_at_homes(homes: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``count`` distinct homes; returns units per bus."""
    owners = np.repeat(np.arange(len(homes)), homes)
    count = min(count, len(owners))
    picked = rng.choice(owners, size=count, replace=False) if count else owners[:0]
    return np.bincount(picked, minlength=len(homes))


def draw_placement(cfg: Config, net: Network, base_kva: float, rng: np.random.Generator
                   ) -> Placement:
    """The PV sequence, then batteries, heat pumps and EVs at random homes (spec A.5/A.6)."""
    inc_bus, inc_kw = pv_sequence(cfg, net, base_kva, rng)
    homes = homes_per_bus(net, cfg.homes)
    bs_sites = _units_at_homes(homes, cfg.bs_units, rng)
    unit_kw = cfg.bs_share * base_kva / max(bs_sites.sum(), 1)
    bs_kw = bs_sites * unit_kw
    hp = _units_at_homes(homes, round(cfg.hp_share * homes.sum()), rng)
    ev = _units_at_homes(homes, round(cfg.ev_share * homes.sum()), rng)
    return Placement(inc_bus, inc_kw, homes, bs_kw, bs_kw * cfg.bs_hours, hp, ev)
