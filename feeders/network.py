"""Array view of a radial feeder for optimisation models (DistFlow, OPF, DOE).

Conventions:
- buses are in breadth-first order from the source bus (index 0); branches are ordered so
  that branch ``k`` feeds bus ``to_bus[k]``, i.e. ``to_bus == arange(1, n_buses)`` for a
  single connected tree;
- impedances are series impedances in ohm referred to the voltage base of the to-bus
  (transformers: ``(2*pct_r + j*xhl)/100 * kV2**2/MVA`` per phase);
- ``r_ohm``/``x_ohm`` are positive-sequence values: ``z_s - z_m`` (mean self minus mean
  mutual) for 2- and 3-phase branches, the self impedance for 1-phase branches;
- only closed branches are included (normally open switches and ties are left out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Network:
    """Topology, impedances and nominal loads of one feeder as numpy arrays."""

    buses: list[str]
    bus_index: dict[str, int]
    base_kv_ln: np.ndarray
    bus_phases: list[tuple[int, ...]]
    branch_names: list[str]
    from_bus: np.ndarray
    to_bus: np.ndarray
    r_ohm: np.ndarray
    x_ohm: np.ndarray
    z_abc: list[np.ndarray]
    branch_phases: list[tuple[int, ...]]
    rating_a: np.ndarray
    tap_ratio: np.ndarray
    load_p_kw: np.ndarray
    load_q_kvar: np.ndarray
    s_base_kva: float
    v_source_pu: float
    branch_kind: list[str]
    """'line', 'switch', 'transformer' or 'regulator' per branch."""
    branch_elements: list[tuple[str, ...]]
    """OpenDSS elements making up each branch (a regulator bank has one per phase)."""
    tap_ratio_abc: list[np.ndarray]
    """Per-phase tap ratios (ordered as ``branch_phases``)."""
    load_p_kw_abc: np.ndarray
    """(n_buses, 3) nominal kW per phase; delta loads split equally between their nodes."""
    load_q_kvar_abc: np.ndarray
    length_km: np.ndarray
    """Branch length (0 for transformers and switches, nan when the data has none)."""

    @property
    def n_buses(self) -> int:
        return len(self.buses)

    @property
    def n_branches(self) -> int:
        return len(self.branch_names)

    def z_base_ohm(self) -> np.ndarray:
        """Per-branch impedance base (ohm) from the to-bus base and ``s_base_kva``."""
        kv_ll = self.base_kv_ln[self.to_bus] * np.sqrt(3.0)
        return kv_ll**2 / (self.s_base_kva / 1000.0)

    def r_pu(self) -> np.ndarray:
        """Positive-sequence branch resistance in per unit."""
        return self.r_ohm / self.z_base_ohm()

    def x_pu(self) -> np.ndarray:
        """Positive-sequence branch reactance in per unit."""
        return self.x_ohm / self.z_base_ohm()

    def parent(self) -> np.ndarray:
        """Parent bus index of every bus (-1 for the source)."""
        par = np.full(self.n_buses, -1, dtype=int)
        par[self.to_bus] = self.from_bus
        return par

    def parent_branch(self) -> np.ndarray:
        """Index of the branch feeding every bus (-1 for the source)."""
        pb = np.full(self.n_buses, -1, dtype=int)
        pb[self.to_bus] = np.arange(self.n_branches)
        return pb

    def distance_km(self) -> np.ndarray:
        """Distance of every bus from the source along the tree (nan if a length is unknown)."""
        d = np.zeros(self.n_buses)
        for k in range(self.n_branches):  # parents come before children
            d[self.to_bus[k]] = d[self.from_bus[k]] + self.length_km[k]
        return d

    def children(self) -> list[list[int]]:
        """Child bus indices of every bus."""
        out: list[list[int]] = [[] for _ in range(self.n_buses)]
        for f, t in zip(self.from_bus.tolist(), self.to_bus.tolist(), strict=True):
            out[f].append(t)
        return out

    def downstream_buses(self, i: int) -> np.ndarray:
        """Indices of bus ``i`` and every bus fed through it (sorted)."""
        kids = self.children()
        stack, seen = [i], []
        while stack:
            b = stack.pop()
            seen.append(b)
            stack.extend(kids[b])
        return np.array(sorted(seen), dtype=int)

    def incidence(self) -> np.ndarray:
        """(n_branches, n_buses) incidence matrix: +1 at from-bus, -1 at to-bus."""
        a = np.zeros((self.n_branches, self.n_buses))
        k = np.arange(self.n_branches)
        a[k, self.from_bus] = 1.0
        a[k, self.to_bus] = -1.0
        return a
