"""Balanced single-phase-equivalent radial network model for the market's OPF.

The primary market solves the branch-flow (DistFlow) model on a *balanced single-phase
equivalent* of the feeder, as in the seed thesis ("balanced, single-phase, radial").
Quantities are in per unit of the feeder's three-phase base `s_base_kva` and each bus's
line-to-neutral base voltage; a branch is identified with its downstream bus.

Reduction of an unbalanced feeder (ieee123) to the equivalent:
- Loads: the per-phase loads of a bus are summed (three-phase total).
- Impedance of a branch with `n` phases: the balanced equivalent carries the three-phase
  power on three identical phases, i.e. a per-phase current `S / (3 V)`, while the real
  branch carries `S / (n V)`. To preserve the voltage drop and the losses, the equivalent
  impedance is `(3 / n) * z_n`, where `z_n` is the positive-sequence impedance for
  three-phase branches (mean self minus mean mutual impedance of `z_abc`) and the
  self impedance of the phase for single-phase branches (two-phase: mean self minus mean
  mutual, scaled by 3/2). Without `z_abc` the given positive-sequence `r_ohm, x_ohm` are used.
- Regulators and transformers are ideal ratios `tap_ratio` (mean over phases) in series
  with their impedance. Shunt capacitors are constant susceptances (Q = B |V|^2, linear in
  the squared voltage of the branch-flow model). Line charging is neglected.
The error of this reduction against OpenDSS on ieee123 is measured in
`tests/test_market_network.py` and reported by `reduction_error()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

MIN_Z_PU = 1e-6  # switches / zero-impedance branches get this series impedance


@dataclass
class MarketNetwork:
    """Radial network arrays for the OPF (index 0 = source bus, branch k feeds bus k+1)."""

    buses: list[str]
    parent: np.ndarray  # parent bus index of bus j (j = 1..n-1), as array of length n-1
    r: np.ndarray  # series resistance per branch [pu]
    x: np.ndarray  # series reactance per branch [pu]
    i_max: np.ndarray  # current limit per branch [pu]; inf = unlimited
    tap: np.ndarray  # ideal voltage ratio per branch (1 = none)
    load_p: np.ndarray  # nominal load per bus [pu]
    load_q: np.ndarray
    s_base_kva: float = 1000.0
    v_source_pu: float = 1.0
    branch_names: list[str] = field(default_factory=list)
    shunt_q: np.ndarray | None = None  # capacitor injection per bus at 1 pu [pu]: Q = B v
    branch_elements: list[tuple[str, ...]] = field(default_factory=list)  # OpenDSS elements

    def __post_init__(self) -> None:
        n = len(self.buses)
        self.parent = np.asarray(self.parent, dtype=int)
        for name in ("r", "x", "i_max", "tap"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=float))
        self.load_p = np.asarray(self.load_p, dtype=float)
        self.load_q = np.asarray(self.load_q, dtype=float)
        self.shunt_q = (np.zeros(n) if self.shunt_q is None
                        else np.asarray(self.shunt_q, dtype=float))
        if self.parent.shape != (n - 1,):
            raise ValueError("parent must have one entry per non-source bus")
        if np.any(self.parent >= np.arange(1, n)):
            raise ValueError("buses must be ordered so that each parent precedes its child")
        if not self.branch_names:
            self.branch_names = [f"{self.buses[p]}-{self.buses[j + 1]}"
                                 for j, p in enumerate(self.parent)]
        self.bus_index = {b: i for i, b in enumerate(self.buses)}

    @property
    def n(self) -> int:
        return len(self.buses)

    @property
    def m(self) -> int:
        return self.n - 1

    def children_matrix(self) -> np.ndarray:
        """C[j, k] = 1 if branch k leaves bus j (dense n x m)."""
        c = np.zeros((self.n, self.m))
        c[self.parent, np.arange(self.m)] = 1.0
        return c

    def path_matrix(self) -> np.ndarray:
        """T[k, j] = 1 if branch k lies on the path from the source to bus j (m x n)."""
        t = np.zeros((self.m, self.n))
        for j in range(1, self.n):
            b = j
            while b != 0:
                t[b - 1, j] = 1.0
                b = self.parent[b - 1]
        return t

    def distance(self) -> np.ndarray:
        """Electrical distance (sum of branch r) from the source to each bus [pu]."""
        d = np.zeros(self.n)
        for j in range(1, self.n):
            d[j] = d[self.parent[j - 1]] + self.r[j - 1]
        return d


def _equivalent_z(z: Any, nph: int) -> complex:
    z = np.asarray(z, dtype=complex)
    if z.ndim == 0 or z.size == 1:
        return complex(z.reshape(-1)[0]) * 3.0 / max(nph, 1)
    k = z.shape[0]
    self_z = np.mean(np.diag(z))
    mutual = (z.sum() - np.trace(z)) / (k * (k - 1)) if k > 1 else 0.0
    seq = self_z - mutual if k > 1 else self_z
    return complex(seq) * 3.0 / k


def from_feeder(feeder: Any, use_z_abc: bool = True, capacitors: bool = True,
                default_ampacity_a: float | None = None) -> MarketNetwork:
    """Build the market model from a `feeders.Feeder` (or its `Network`).

    Buses are re-ordered breadth-first from the source; branches must be radial and
    oriented away from the source. Fixed shunt capacitors of a `Feeder` become constant
    susceptances `shunt_q` (kvar at 1 pu; injection = B * v). Branches without a rating get
    `default_ampacity_a` (None = unlimited).
    """
    net = getattr(feeder, "network", feeder)
    buses = list(net.buses)
    nb = len(buses)
    fb = np.asarray(net.from_bus, dtype=int)
    tb = np.asarray(net.to_bus, dtype=int)
    if len(fb) != nb - 1:
        raise ValueError(f"feeder is not radial: {nb} buses, {len(fb)} branches")
    children: dict[int, list[int]] = {}
    for k, a in enumerate(fb):
        children.setdefault(int(a), []).append(k)
    order = [0]
    branch_of: dict[int, int] = {}
    head = 0
    while head < len(order):
        a = order[head]
        head += 1
        for k in children.get(a, []):
            branch_of[int(tb[k])] = k
            order.append(int(tb[k]))
    if len(order) != nb:
        raise ValueError("feeder graph is not connected from the source")
    new = {old: i for i, old in enumerate(order)}
    kv = np.asarray(net.base_kv_ln, dtype=float)
    s_base = float(net.s_base_kva)
    r_pu = np.asarray(net.r_pu(), dtype=float)
    x_pu = np.asarray(net.x_pu(), dtype=float)
    z_abc = getattr(net, "z_abc", None) if use_z_abc else None
    phases = getattr(net, "branch_phases", None)
    rating = np.asarray(getattr(net, "rating_a", np.full(nb - 1, np.inf)), dtype=float)
    rating = np.where(np.isnan(rating), np.inf if default_ampacity_a is None
                      else default_ampacity_a, rating)
    taps = np.asarray(getattr(net, "tap_ratio", np.ones(nb - 1)), dtype=float)
    parent, r, x, imax, tap, names, elements = [], [], [], [], [], [], []
    branch_elements = getattr(net, "branch_elements", None)
    for j_old in order[1:]:
        k = branch_of[j_old]
        a_old = int(fb[k])
        parent.append(new[a_old])
        # per-unit impedance on the downstream side's base (three-phase s_base)
        zbase = (kv[j_old] ** 2) * 3.0 / s_base * 1000.0  # ohm: (kV_ll)^2 / MVA
        if z_abc is not None and z_abc[k] is not None and np.size(z_abc[k]) > 0:
            nph = int(np.shape(z_abc[k])[0]) if np.ndim(z_abc[k]) == 2 else 1
            zeq = _equivalent_z(z_abc[k], nph) / zbase
            # transformers / regulators: keep the contract's positive-sequence values
            if np.abs(zeq) == 0 and (r_pu[k] or x_pu[k]):
                zeq = complex(r_pu[k], x_pu[k])
        else:
            zeq = complex(r_pu[k], x_pu[k])
            if phases is not None:
                nph = len(phases[k]) if not isinstance(phases[k], int | np.integer) else int(
                    phases[k])
                zeq *= 3.0 / max(nph, 1)
        r.append(max(zeq.real, MIN_Z_PU))
        x.append(max(zeq.imag, MIN_Z_PU))
        ibase = s_base / (3.0 * kv[j_old])  # A per phase
        nph_k = _nphases(phases, k)
        # a branch with n phases of ampacity I carries n*I*V; in the equivalent: 3 * i_eq
        imax.append(rating[k] * nph_k / 3.0 / ibase if np.isfinite(rating[k]) and rating[k] > 0
                    else np.inf)
        tap.append(float(np.mean(taps[k])) if np.size(taps[k]) else 1.0)
        names.append(str(net.branch_names[k]))
        elements.append(tuple(branch_elements[k]) if branch_elements is not None else ())
    lp = np.asarray(net.load_p_kw, dtype=float)[order] / s_base
    lq = np.asarray(net.load_q_kvar, dtype=float)[order] / s_base
    shunt = np.zeros(nb)
    caps = getattr(getattr(feeder, "tables", None), "capacitors", None)
    if capacitors and caps is not None:
        for bus, kvar in zip(caps["bus"].astype(str), caps["kvar"], strict=True):
            shunt[net.bus_index[bus]] += float(kvar)
    shunt = shunt[order] / s_base
    return MarketNetwork(
        buses=[str(buses[i]) for i in order], parent=np.array(parent), r=np.array(r),
        x=np.array(x), i_max=np.array(imax), tap=np.array(tap), load_p=lp, load_q=lq,
        s_base_kva=s_base, v_source_pu=float(net.v_source_pu), branch_names=names,
        shunt_q=shunt, branch_elements=elements,
    )


def _nphases(phases: Any, k: int) -> int:
    if phases is None:
        return 3
    p = phases[k]
    if isinstance(p, int | np.integer):
        return int(p)
    if isinstance(p, str):
        return max(1, len([c for c in p if c.isalnum()]))
    return max(1, len(p))


def subtree_matrix(net: MarketNetwork) -> sp.csr_matrix:
    """D[j, u] = 1 if bus u is bus j or downstream of it (sparse n x n, cached per topology).

    Backward sweep: branch flows are D @ (bus loads + losses of the branch feeding each bus).
    Forward sweep: every bus's voltage sums the drops of the branches on its path, D.T @ drop.
    """
    key = net.parent.tobytes()
    cached = _SUBTREE.get(key)
    if cached is None:
        rows, cols = [np.arange(net.n)], [np.arange(net.n)]
        for u in range(1, net.n):  # every bus is below each of its ancestors
            j = net.parent[u - 1]
            while True:
                rows.append(np.array([j]))
                cols.append(np.array([u]))
                if j == 0:
                    break
                j = net.parent[j - 1]
        r, c = np.concatenate(rows), np.concatenate(cols)
        cached = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(net.n, net.n))
        _SUBTREE[key] = cached
    return cached


_SUBTREE: dict[bytes, sp.csr_matrix] = {}


def distflow(net: MarketNetwork, p: np.ndarray, q: np.ndarray, tol: float = 1e-10,
             max_iter: int = 100, v_source_pu: float | None = None) -> dict[str, np.ndarray]:
    """Exact (non-relaxed) DistFlow power flow by backward/forward sweep (vectorised).

    `p, q` are bus loads [pu] (load convention). Returns v (squared voltage), P, Q (sending
    end), l (squared current) and the PCC import P0, Q0; the source holds `v_source_pu`
    (default: the network's). With a tap ratio t_k on branch k,
    v_j = t_k^2 (v_i - drop_k); dividing by c_j = prod of t^2 from the source makes the
    forward sweep a plain sum over the path: v_j / c_j = v_0 - sum drop_k / c_parent(k).
    """
    n = net.n
    D = subtree_matrix(net)
    Dt = D.T.tocsr()
    par = net.parent
    z2 = net.r ** 2 + net.x ** 2
    t2 = net.tap ** 2
    log_c = Dt @ np.concatenate([[0.0], np.log(t2)])  # sum over the path of log t^2
    c = np.exp(log_c)
    v0 = (net.v_source_pu if v_source_pu is None else v_source_pu) ** 2
    v = np.full(n, v0)
    l = np.zeros(n - 1)
    for _ in range(max_iter):
        P = D @ (p + np.concatenate([[0.0], net.r * l]))
        Q = D @ (q - net.shunt_q * v + np.concatenate([[0.0], net.x * l]))
        drop = 2 * (net.r * P[1:] + net.x * Q[1:]) - z2 * l
        vn = c * (v0 - Dt @ np.concatenate([[0.0], drop / c[par]]))
        ln = (P[1:] ** 2 + Q[1:] ** 2) / vn[par]
        done = np.max(np.abs(vn - v)) < tol and np.max(np.abs(ln - l), initial=0.0) < tol
        v, l = vn, ln
        if done:
            break
    return {"v": v, "P": P[1:], "Q": Q[1:], "l": l, "P0": P[0], "Q0": Q[0]}
