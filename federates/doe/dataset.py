"""Training data for the surrogates: correlated random OpenDSS snapshots (spec §6).

Inputs ``x = [p_load; q_load; p_der; q_der]`` (kW/kvar of every OpenDSS Load object, then
each DER's injection). Outputs, after retrenchment (§III-C): ``V`` at the nodes of the
non-transit buses (loads, DERs, regulator outputs, capacitors), ``I`` on the phases of every
line touching such a bus, ``P`` = 3-phase flow at the sending end of each monitored line, and
``L`` = total circuit losses. Non-converged samples are counted and dropped.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np

from federates.doe.snapshot import Measurement, Snapshotter


@dataclass(frozen=True)
class OutputMap:
    """Which measured entries each surrogate predicts (indices into a Measurement)."""

    v_nodes: np.ndarray
    i_phases: np.ndarray
    v_names: list[str]
    i_names: list[str]

    @classmethod
    def retrenched(cls, snap: Snapshotter) -> OutputMap:
        f = snap.feeder
        keep = {b.lower() for b in snap.load_bus} | {d.bus.lower() for d in snap.case.ders}
        keep |= {str(b).lower() for b in f.tables.capacitors["bus"]}
        regs = {r.lower() for r in f.regulators}
        tr = f.tables.transformers
        keep |= {str(b).lower() for n, b in zip(tr["name"], tr["bus2"], strict=True)
                 if n.lower() in regs}
        v = np.array([k for k in snap.check_nodes if snap.node_bus[k] in keep], dtype=int)
        i = np.array([k for k, buses in enumerate(snap.line_phase_buses)
                      if keep.intersection(buses)], dtype=int)
        return cls(v, i, [snap.node_names[k] for k in v], [snap.line_phases[k] for k in i])

    def outputs(self, m: Measurement) -> dict[str, np.ndarray]:
        """Surrogate targets of one snapshot: L (1), V (n_v), I (n_i), P (n_mon)."""
        return {"L": np.array([m.loss_kw]), "V": m.v_pu[self.v_nodes],
                "I": m.i_a[self.i_phases], "P": m.p_mon_kw}


@dataclass(frozen=True)
class LoadBox:
    """Sampling box of the loads: feeder factor range and per-load spread (spec §6)."""

    s_min: float
    s_max: float
    eps: tuple[float, float] = (0.8, 1.2)
    pf_spread: tuple[float, float] = (0.9, 1.1)

    @classmethod
    def from_multipliers(cls, m_min: float, m_max: float) -> LoadBox:
        return cls(0.8 * m_min, 1.2 * m_max)


@dataclass
class Dataset:
    x: np.ndarray
    y: dict[str, np.ndarray]
    n_failed: int
    seconds: float

    def digest(self) -> str:
        """SHA-256 (first 16 hex) of the inputs and outputs, for the weight metadata."""
        h = hashlib.sha256(np.ascontiguousarray(self.x).tobytes())
        for k in sorted(self.y):
            h.update(np.ascontiguousarray(self.y[k]).tobytes())
        return h.hexdigest()[:16]

    def split(self, seed: int, frac: tuple[float, float] = (0.8, 0.1)) -> tuple[Dataset, ...]:
        """Train/validation/test split (80/10/10 by default), shuffled with ``seed``."""
        n = len(self.x)
        perm = np.random.default_rng(seed).permutation(n)
        a, b = int(frac[0] * n), int((frac[0] + frac[1]) * n)
        return tuple(Dataset(self.x[p], {k: v[p] for k, v in self.y.items()}, 0, 0.0)
                     for p in (perm[:a], perm[a:b], perm[b:]))


def sample_inputs(snap: Snapshotter, box: LoadBox, n: int,
                  rng: np.random.Generator) -> np.ndarray:
    """``n`` correlated input vectors: feeder factor × per-load factor, q by power factor."""
    s = rng.uniform(box.s_min, box.s_max, size=(n, 1))
    eps = rng.uniform(*box.eps, size=(n, len(snap.base_p_kw)))
    p = s * eps * snap.base_p_kw
    q = s * eps * snap.base_q_kvar * rng.uniform(*box.pf_spread, size=p.shape)
    lo, hi = snap.case.p_bounds()
    pd = rng.uniform(lo, hi, size=(n, len(lo)))
    qd = np.tile([d.q_kvar for d in snap.case.ders], (n, 1))
    return np.hstack([p, q, pd, qd])


def split_x(snap: Snapshotter, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """(p_load, q_load, p_der, q_der) of one input vector."""
    nl, nd = len(snap.base_p_kw), snap.case.n_der
    return x[:nl], x[nl:2 * nl], x[2 * nl:2 * nl + nd], x[2 * nl + nd:]


def generate(snap: Snapshotter, omap: OutputMap, box: LoadBox, n: int, seed: int) -> Dataset:
    """Solve ``n`` random snapshots; failed ones are dropped and counted."""
    t0 = time.perf_counter()
    x = sample_inputs(snap, box, n, np.random.default_rng(seed))
    keep, ys, failed = [], {"L": [], "V": [], "I": [], "P": []}, 0
    for k in range(n):
        m = snap.solve(*split_x(snap, x[k]))
        if m is None:
            failed += 1
            continue
        keep.append(k)
        for key, val in omap.outputs(m).items():
            ys[key].append(val)
    y = {k: np.asarray(v, float).reshape(len(keep), -1) for k, v in ys.items()}
    return Dataset(x[keep], y, failed, time.perf_counter() - t0)
