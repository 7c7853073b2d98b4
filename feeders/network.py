"""Array view of a radial feeder for optimisation models (DistFlow, OPF, DOE).

One array model serves every optimisation: the per-phase data (``z_abc``, per-phase loads
and taps) for three-phase models and the balanced single-phase equivalent in per unit
(``r_bal_pu``, ``x_bal_pu``, ``i_max_bal_pu``, ``load_p_pu``, ``shunt_q_pu``) for the
balanced DistFlow / LinDistFlow of ``feeders.distflow``.

Conventions:
- buses are in breadth-first order from the source bus (index 0); branches are ordered so
  that branch ``k`` feeds bus ``to_bus[k]``, i.e. ``to_bus == arange(1, n_buses)`` for a
  single connected tree;
- impedances are series impedances in ohm referred to the voltage base of the to-bus
  (transformers: ``(2*pct_r + j*xhl)/100 * kV2**2/MVA`` per phase);
- ``r_ohm``/``x_ohm`` are positive-sequence values: ``z_s - z_m`` (mean self minus mean
  mutual) for 2- and 3-phase branches, the self impedance for 1-phase branches;
- only closed branches are included (normally open switches and ties are left out);
- the parent of bus ``k + 1`` is ``from_bus[k]`` (``parent()`` gives it per bus, -1 for the
  source): the one parent convention of every model in ``feeders``.

Balanced single-phase equivalent (the market's "balanced, single-phase, radial" model),
in per unit of the three-phase ``s_base_kva`` and each bus's line-to-neutral base voltage:
- loads: the per-phase loads of a bus are summed (three-phase total);
- impedance of a branch with ``n`` phases: the equivalent carries the three-phase power on
  three identical phases, i.e. a per-phase current ``S / (3 V)``, while the real branch
  carries ``S / (n V)``. To preserve the voltage drop and the losses, the equivalent
  impedance is ``(3 / n) * z_n``, with ``z_n`` the mean self minus mean mutual impedance
  of ``z_abc`` (the self impedance for one phase);
- a branch with ``n`` phases of ampacity ``I`` carries ``n I V``: ``3 i_eq`` in the
  equivalent; regulators and transformers are ideal ratios ``tap_ratio`` in series with
  their impedance; shunt capacitors are constant susceptances (``Q = B |V|^2``, linear in
  the squared voltage); line charging is neglected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

MIN_Z_PU = 1e-6  # switches / zero-impedance branches get this series impedance (balanced)
DEFAULT_TAP_STEP = 0.00625  # pu per regulator step (feeders without a ``tap_step``)


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
    shunt_q_kvar: np.ndarray | None = None
    """Fixed shunt capacitors per bus [kvar at 1 pu] (None = none)."""
    tap_step: float = DEFAULT_TAP_STEP
    """Regulator tap step [pu per step]: ratio = 1 + step * tap."""
    r_bal_pu: np.ndarray | None = None
    """Balanced-equivalent series resistance per branch [pu] (None = from the ohm data)."""
    x_bal_pu: np.ndarray | None = None
    i_max_bal_pu: np.ndarray | None = None
    """Balanced-equivalent current limit per branch [pu]; inf = unlimited."""
    load_p_pu: np.ndarray = field(init=False, repr=False)
    """Nominal three-phase load per bus [pu of s_base_kva]."""
    load_q_pu: np.ndarray = field(init=False, repr=False)
    shunt_q_pu: np.ndarray = field(init=False, repr=False)
    """Capacitor injection per bus at 1 pu [pu]: Q = B v (squared voltage)."""

    def __post_init__(self) -> None:
        n = self.n_buses
        if self.from_bus.shape != (n - 1,) or not np.array_equal(self.to_bus,
                                                                  np.arange(1, n)):
            raise ValueError("a radial Network has branch k feeding bus k + 1")
        if np.any(self.from_bus >= self.to_bus):
            raise ValueError("buses must be ordered so that each parent precedes its child")
        put = object.__setattr__
        shunt = (np.zeros(n) if self.shunt_q_kvar is None
                 else np.asarray(self.shunt_q_kvar, dtype=float))
        put(self, "shunt_q_kvar", shunt)
        put(self, "load_p_pu", np.asarray(self.load_p_kw, dtype=float) / self.s_base_kva)
        put(self, "load_q_pu", np.asarray(self.load_q_kvar, dtype=float) / self.s_base_kva)
        put(self, "shunt_q_pu", shunt / self.s_base_kva)
        if self.r_bal_pu is None or self.x_bal_pu is None:
            r, x = _balanced_z(self)
            put(self, "r_bal_pu", r)
            put(self, "x_bal_pu", x)
        if self.i_max_bal_pu is None:
            put(self, "i_max_bal_pu", _balanced_i_max(self))

    @classmethod
    def from_pu(cls, buses: list[str], parent: Any, r: Any, x: Any, i_max: Any = None,
                tap: Any = None, load_p: Any = None, load_q: Any = None,
                s_base_kva: float = 1000.0, v_source_pu: float = 1.0, shunt_q: Any = None,
                branch_elements: list[tuple[str, ...]] | None = None,
                tap_step: float = DEFAULT_TAP_STEP) -> Network:
        """A balanced three-phase network given in per unit (test and study networks).

        ``parent[k]`` is the parent of bus ``k + 1``; loads and ``shunt_q`` per bus in pu of
        ``s_base_kva``; ``i_max`` per branch in pu (None = unlimited).
        """
        n = len(buses)
        m = n - 1
        parent = np.asarray(parent, dtype=int)
        if parent.shape != (m,):
            raise ValueError("parent must have one entry per non-source bus")
        r = np.asarray(r, dtype=float)
        x = np.asarray(x, dtype=float)
        imax = np.full(m, np.inf) if i_max is None else np.asarray(i_max, dtype=float)
        tap = np.ones(m) if tap is None else np.asarray(tap, dtype=float)
        lp = np.zeros(n) if load_p is None else np.asarray(load_p, dtype=float)
        lq = np.zeros(n) if load_q is None else np.asarray(load_q, dtype=float)
        kv_ln = np.full(n, np.sqrt(s_base_kva / 3000.0))  # impedance base 1 ohm
        zbase = (kv_ln[1:] * np.sqrt(3.0)) ** 2 / (s_base_kva / 1000.0)
        ibase = s_base_kva / (3.0 * kv_ln[1:])
        phases = [(1, 2, 3)] * m
        return cls(
            buses=list(buses), bus_index={b: i for i, b in enumerate(buses)},
            base_kv_ln=kv_ln, bus_phases=[(1, 2, 3)] * n,
            branch_names=[f"{buses[p]}-{buses[k + 1]}" for k, p in enumerate(parent)],
            from_bus=parent, to_bus=np.arange(1, n), r_ohm=r * zbase, x_ohm=x * zbase,
            z_abc=[np.zeros((0, 0))] * m, branch_phases=phases, rating_a=imax * ibase,
            tap_ratio=tap, load_p_kw=lp * s_base_kva, load_q_kvar=lq * s_base_kva,
            s_base_kva=float(s_base_kva), v_source_pu=float(v_source_pu),
            branch_kind=["line"] * m,
            branch_elements=list(branch_elements) if branch_elements else [()] * m,
            tap_ratio_abc=[np.full(3, t) for t in tap], load_p_kw_abc=np.outer(lp, np.ones(3))
            * s_base_kva / 3, load_q_kvar_abc=np.outer(lq, np.ones(3)) * s_base_kva / 3,
            length_km=np.full(m, np.nan),
            shunt_q_kvar=None if shunt_q is None else np.asarray(shunt_q) * s_base_kva,
            tap_step=tap_step, r_bal_pu=r, x_bal_pu=x, i_max_bal_pu=imax)

    @property
    def n_buses(self) -> int:
        return len(self.buses)

    @property
    def n(self) -> int:
        """Number of buses (short name used by the optimisation models)."""
        return len(self.buses)

    @property
    def m(self) -> int:
        """Number of branches (= buses - 1 in a radial network)."""
        return len(self.buses) - 1

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

    def children_matrix(self) -> np.ndarray:
        """C[j, k] = 1 if branch k leaves bus j (dense n x m)."""
        c = np.zeros((self.n, self.m))
        c[self.from_bus, np.arange(self.m)] = 1.0
        return c

    def electrical_distance_pu(self) -> np.ndarray:
        """Sum of the balanced-equivalent branch resistances from the source [pu]."""
        d = np.zeros(self.n)
        for j in range(1, self.n):
            d[j] = d[self.from_bus[j - 1]] + self.r_bal_pu[j - 1]
        return d

    def subtree_matrix(self) -> sp.csr_matrix:
        """D[j, u] = 1 if bus u is bus j or downstream of it (sparse n x n, cached).

        Backward sweep: branch flows are D @ (bus loads + losses of the branch feeding each
        bus). Forward sweep: every bus's voltage sums the drops on its path, D.T @ drop.
        """
        key = self.from_bus.tobytes()
        cached = _SUBTREE.get(key)
        if cached is None:
            rows, cols = [np.arange(self.n)], [np.arange(self.n)]
            for u in range(1, self.n):  # every bus is below each of its ancestors
                j = self.from_bus[u - 1]
                while True:
                    rows.append(np.array([j]))
                    cols.append(np.array([u]))
                    if j == 0:
                        break
                    j = self.from_bus[j - 1]
            r, c = np.concatenate(rows), np.concatenate(cols)
            cached = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(self.n, self.n))
            _SUBTREE[key] = cached
        return cached


_SUBTREE: dict[bytes, sp.csr_matrix] = {}


def _equivalent_z(z: Any, nph: int) -> complex:
    z = np.asarray(z, dtype=complex)
    if z.ndim == 0 or z.size == 1:
        return complex(z.reshape(-1)[0]) * 3.0 / max(nph, 1)
    k = z.shape[0]
    self_z = np.mean(np.diag(z))
    mutual = (z.sum() - np.trace(z)) / (k * (k - 1)) if k > 1 else 0.0
    seq = self_z - mutual if k > 1 else self_z
    return complex(seq) * 3.0 / k


def _balanced_z(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """Balanced-equivalent (r, x) per branch [pu] from ``z_abc`` (see the module doc)."""
    kv = np.asarray(net.base_kv_ln, dtype=float)
    s_base = float(net.s_base_kva)
    r_pu, x_pu = net.r_pu(), net.x_pu()
    r, x = np.empty(net.m), np.empty(net.m)
    for k in range(net.m):
        j = k + 1
        zbase = (kv[j] ** 2) * 3.0 / s_base * 1000.0  # ohm: (kV_ll)^2 / MVA
        z = net.z_abc[k]
        if z is not None and np.size(z) > 0:
            nph = int(np.shape(z)[0]) if np.ndim(z) == 2 else 1
            zeq = _equivalent_z(z, nph) / zbase
            if np.abs(zeq) == 0 and (r_pu[k] or x_pu[k]):  # keep positive-sequence data
                zeq = complex(r_pu[k], x_pu[k])
        else:
            zeq = complex(r_pu[k], x_pu[k]) * (3.0 / max(len(net.branch_phases[k]), 1))
        r[k] = max(zeq.real, MIN_Z_PU)
        x[k] = max(zeq.imag, MIN_Z_PU)
    return r, x


def _balanced_i_max(net: Network) -> np.ndarray:
    """Balanced-equivalent current limit per branch [pu] (inf where no rating is known)."""
    kv = np.asarray(net.base_kv_ln, dtype=float)
    s_base = float(net.s_base_kva)
    rating = np.where(np.isnan(net.rating_a), np.inf, np.asarray(net.rating_a, dtype=float))
    out = np.empty(net.m)
    for k in range(net.m):
        ibase = s_base / (3.0 * kv[k + 1])  # A per phase
        nph = max(1, len(net.branch_phases[k]))
        ok = np.isfinite(rating[k]) and rating[k] > 0
        out[k] = rating[k] * nph / 3.0 / ibase if ok else np.inf
    return out
