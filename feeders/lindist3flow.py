"""LinDist3Flow: the linear three-phase branch-flow model of a radial feeder.

Per phase ``phi`` of branch ``k`` (bus ``i`` -> bus ``j``) with phase impedance matrix ``Z``
(ohm) and sending-end flows ``S = P + jQ`` (kW, kvar per phase), losses neglected::

    P_k = sum of the wye-equivalent injections downstream of j (per phase, load convention)
    v_j[phi] = t[phi]**2 * v_i[phi]
               - sum_psi (Mp[phi, psi] * P_k[psi] + Mq[phi, psi] * Q_k[psi]) / (1000 kV_j**2)
    Mp = 2 Re(conj(Z) * gamma),  Mq = -2 Im(conj(Z) * gamma),  gamma[phi, psi] = a_phi / a_psi

with ``v`` the squared voltage magnitude (pu**2), ``a = (1, e^-j2pi/3, e^j2pi/3)`` (the 120
degree rotation of the mutual terms, Gan and Low 2014; Arnold et al. 2016), ``kV_j`` the
line-to-neutral base of the to-bus and ``t`` the locked per-phase tap ratio of a regulator
(1 elsewhere; transformers also carry their off-nominal ratio). Delta loads become phase
injections under balanced nominal voltages (:func:`delta_to_phases`); capacitors and line
charging are fixed reactive injections at 1 pu. See docs/lindist3flow.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve_triangular

from feeders.catalog import Feeder
from feeders.topology import METERS, parse_nodes

ALPHA = np.exp(-2j * np.pi / 3)
PHASOR = {1: 1.0 + 0j, 2: ALPHA, 3: ALPHA**2}
"""Balanced positive-sequence unit phasor of phases 1, 2, 3 (a, b, c)."""


def delta_to_phases(nodes: tuple[int, int], s_kva: complex) -> dict[int, complex]:
    """Wye-equivalent phase powers of a load ``s_kva`` connected between two phases.

    Exact for balanced nominal voltages: ``S_i = S V_i / (V_i - V_j)``, ``S_j = -S V_j /
    (V_i - V_j)`` (for ``a-b``: ``S e^-j30 / sqrt 3`` on a and ``S e^+j30 / sqrt 3`` on b).
    """
    i, j = nodes
    vi, vj = PHASOR[i], PHASOR[j]
    return {i: s_kva * vi / (vi - vj), j: -s_kva * vj / (vi - vj)}


def load_phase_powers(nodes: str, phases: int, conn: str, s_kva: complex) -> dict[int, complex]:
    """Wye-equivalent per-phase powers (kVA, load convention) of one load row."""
    delta = conn.strip().lower() in ("delta", "d", "ll")
    n = 3 if phases == 3 else (2 if delta else 1)
    ph = parse_nodes(nodes, n)
    if not delta or len(ph) == 1:
        return {p: s_kva / len(ph) for p in ph}
    if len(ph) == 2:
        return delta_to_phases((ph[0], ph[1]), s_kva)
    out: dict[int, complex] = {p: 0j for p in ph}
    for pair in ((ph[0], ph[1]), (ph[1], ph[2]), (ph[2], ph[0])):
        for p, s in delta_to_phases(pair, s_kva / 3.0).items():
            out[p] += s
    return out


@dataclass(frozen=True)
class Solution:
    """Result of :meth:`LinDist3Flow.solve` (arrays follow the model's index lists)."""

    v_sq: np.ndarray
    """Squared voltage magnitude (pu**2) per node-phase."""
    p_kw: np.ndarray
    """Sending-end active flow per branch-phase (kW, positive away from the source)."""
    q_kvar: np.ndarray

    @property
    def v_pu(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.v_sq, 0.0))


class LinDist3Flow:
    """The linear map from per-phase nodal injections to squared voltages and branch flows.

    Injections ``p``, ``q`` are kW/kvar per node-phase in :attr:`node_phases` order, load
    convention (positive = drawn from the grid). The affine model is::

        v_sq = v_const + v_from_p @ p + v_from_q @ q                 (pu**2 per node-phase)
        P = p_flow_const + p_flow_from_p @ p + p_flow_from_q @ q     (kW per branch-phase)
        Q = q_flow_const + q_flow_from_p @ p + q_flow_from_q @ q     (kvar per branch-phase)

    Voltage maps are dense numpy arrays, flow maps scipy sparse arrays; the topology alone
    is ``flow_from_injection`` (1 where a node-phase is downstream of a branch-phase).
    ``taps`` maps regulator names to integer steps (default: the published taps); a step
    is ``feeder.tap_step`` of ratio. ``shunts``: capacitors and line charging as constant
    impedances (``s = s_1pu * v``, still linear in ``v``, the default) or as ``fixed``
    injections at 1 pu (then ``p_flow_from_p = flow_from_injection``, cross terms zero).
    """

    def __init__(self, feeder: Feeder, taps: Mapping[str, int] | None = None,
                 line_charging: bool = True,
                 shunts: Literal["impedance", "fixed"] = "impedance") -> None:
        if shunts not in ("impedance", "fixed"):
            raise ValueError(f"shunts must be 'impedance' or 'fixed', got {shunts!r}")
        self.shunts = shunts
        self.feeder = feeder
        self.taps = dict(feeder.published_taps if taps is None else taps)
        net = feeder.network
        self.network = net
        self.node_phases: list[tuple[str, int]] = [
            (net.buses[b], ph) for b in range(1, net.n_buses) for ph in net.bus_phases[b]]
        self.node_index = {key: n for n, key in enumerate(self.node_phases)}
        self.branch_phases: list[tuple[int, int]] = [
            (k, ph) for k in range(net.n_branches) for ph in net.branch_phases[k]]
        self.branch_phase_index = {key: m for m, key in enumerate(self.branch_phases)}
        self.source_v_sq = net.v_source_pu**2
        self._build(line_charging)

    # -- construction -------------------------------------------------------------------
    def _transformer_rows(self, k: int) -> list:
        tables = self.feeder.tables
        xf = tables.transformers.set_index(tables.transformers["name"].str.lower())
        return [xf.loc[e.split(".", 1)[1].lower()] for e in self.network.branch_elements[k]]

    def _tap_ratios(self, k: int) -> np.ndarray:
        """Per-phase voltage ratio of branch ``k`` (locked taps, off-nominal ratios)."""
        net = self.network
        ratio = np.ones(len(net.branch_phases[k]))
        if net.branch_kind[k] not in ("transformer", "regulator"):
            return ratio
        known = {n.lower(): n for n in self.feeder.regulators}
        steps = {n.lower(): int(s) for n, s in self.taps.items()}
        unknown = set(steps) - set(known)
        if unknown:
            raise ValueError(f"taps: unknown regulator(s) {sorted(unknown)}; "
                             f"known: {sorted(known.values())}")
        i, j = net.from_bus[k], net.to_bus[k]
        pos = 0
        for row in self._transformer_rows(k):
            n = len(parse_nodes(row["nodes2"], int(row["phases"])))
            nominal = (row["kv2"] / row["kv1"]) / (net.base_kv_ln[j] / net.base_kv_ln[i])
            tap = 1.0 + self.feeder.tap_step * steps.get(str(row["name"]).lower(), 0)
            ratio[pos:pos + n] = nominal * tap
            pos += n
        return ratio

    def _impedance(self, k: int) -> np.ndarray:
        """Series phase impedance matrix (ohm, referred to the to-bus) of branch ``k``."""
        return np.asarray(self.network.z_abc[k])

    def _coupling(self, k: int) -> np.ndarray:
        """How the to-bus squared voltages follow the from-bus ones (before taps): identity,
        or for a three-phase transformer with a delta winding, which passes line-to-line
        voltages only, the linearised zero-sequence-free map ``2/3`` on the diagonal and
        ``1/6`` off it (the magnitude of ``V_phi - mean(V)`` around balanced voltages)."""
        net = self.network
        n = len(net.branch_phases[k])
        if net.branch_kind[k] not in ("transformer", "regulator") or n != 3:
            return np.eye(n)
        rows = self._transformer_rows(k)
        delta = any(str(r[c]).lower().startswith("d") for r in rows for c in ("conn1", "conn2"))
        return np.full((3, 3), 1.0 / 6.0) + np.eye(3) * 0.5 if delta else np.eye(3)

    def _build(self, line_charging: bool) -> None:
        net = self.network
        n, m = len(self.node_phases), len(self.branch_phases)
        # Flow map: branch-phase (k, phi) carries every injection on phi downstream of k.
        rows, cols = [], []
        for (k, ph), mi in self.branch_phase_index.items():
            for b in net.downstream_buses(int(net.to_bus[k])):
                col = self.node_index.get((net.buses[b], ph))
                if col is not None:
                    rows.append(mi)
                    cols.append(col)
        self.flow_from_injection = sp.csr_array(
            (np.ones(len(rows)), (rows, cols)), shape=(m, n))
        # Voltage recursion: (I - T) v = v_src + Bp P + Bq Q, all per node-phase.
        t_rows, t_cols, t_vals = [], [], []
        src = np.zeros(n)
        bp = np.zeros((n, m))
        bq = np.zeros((n, m))
        self.tap_ratio: list[np.ndarray] = []
        for k in range(net.n_branches):
            i, j = int(net.from_bus[k]), int(net.to_bus[k])
            phases = net.branch_phases[k]
            ratio = self._tap_ratios(k)
            self.tap_ratio.append(ratio)
            z = self._impedance(k)
            gamma = np.array([[PHASOR[a] / PHASOR[b] for b in phases] for a in phases])
            scale = 1000.0 * net.base_kv_ln[j] ** 2
            mp = 2.0 * np.real(np.conj(z) * gamma) / scale
            mq = -2.0 * np.imag(np.conj(z) * gamma) / scale
            cols_k = [self.branch_phase_index[(k, ph)] for ph in phases]
            coupling = self._coupling(k)
            for a, ph in enumerate(phases):
                row = self.node_index[(net.buses[j], ph)]
                for b, ph_from in enumerate(phases):
                    weight = ratio[a] ** 2 * coupling[a, b]
                    if weight == 0.0:
                        continue
                    if i == 0:
                        src[row] += weight * self.source_v_sq
                    else:
                        t_rows.append(row)
                        t_cols.append(self.node_index[(net.buses[i], ph_from)])
                        t_vals.append(weight)
                bp[row, cols_k] = -mp[a]
                bq[row, cols_k] = -mq[a]
        lower = sp.eye(n, format="csc") - sp.csc_array((t_vals, (t_rows, t_cols)), shape=(n, n))
        path = spsolve_triangular(lower.tocsr(), np.eye(n), lower=True, unit_diagonal=True)
        self.path = sp.csc_array(np.where(np.abs(path) > 0.0, path, 0.0))
        """``(I - T)^-1``: v = path @ (source term + drops); lower triangular, tree-sparse."""
        f = self.flow_from_injection
        u = self.path @ src
        vp0 = np.asarray(f.T @ (self.path @ bp).T).T  # before the shunt feedback
        vq0 = np.asarray(f.T @ (self.path @ bq).T).T
        ps, qs = self.shunt_injections(line_charging)
        self.p_shunt_kw, self.q_shunt_kvar = ps, qs
        """Shunt injections (kW, kvar per node-phase) at 1 pu."""
        if self.shunts == "impedance":  # s = s_1pu * v: solve v = u + V0 (x + diag(s_1pu) v)
            self.feedback = np.linalg.inv(np.eye(n) - vp0 * ps - vq0 * qs)
            base = u
        else:
            self.feedback = np.eye(n)
            base = u + vp0 @ ps + vq0 @ qs
        self.v_const = self.feedback @ base
        """(n,) squared voltages (pu**2) at zero injection: source, taps and shunts."""
        self.v_from_p = self.feedback @ vp0
        """(n, n) d v_sq / d p (pu**2 per kW)."""
        self.v_from_q = self.feedback @ vq0
        """(n, n) d v_sq / d q (pu**2 per kvar)."""
        if self.shunts == "impedance":
            fp, fq = f @ sp.diags_array(ps), f @ sp.diags_array(qs)
            self.p_flow_const = fp @ self.v_const
            self.q_flow_const = fq @ self.v_const
            self.p_flow_from_p = sp.csr_array(f + fp @ self.v_from_p)
            self.p_flow_from_q = sp.csr_array(fp @ self.v_from_q)
            self.q_flow_from_p = sp.csr_array(fq @ self.v_from_p)
            self.q_flow_from_q = sp.csr_array(f + fq @ self.v_from_q)
        else:
            self.p_flow_const, self.q_flow_const = f @ ps, f @ qs
            self.p_flow_from_p = self.q_flow_from_q = sp.csr_array(f)
            self.p_flow_from_q = self.q_flow_from_p = sp.csr_array((m, n))

    # -- injections ---------------------------------------------------------------------
    def _add(self, out: np.ndarray, bus: str, phase_powers: Mapping[int, complex],
             part: str) -> None:
        for ph, s in phase_powers.items():
            key = (bus, ph)
            if key not in self.node_index:
                raise ValueError(f"{bus}.{ph} is not a node-phase of {self.feeder.name}")
            out[self.node_index[key]] += s.real if part == "p" else s.imag

    def shunt_injections(self, line_charging: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Fixed injections (kW, kvar; load convention) of capacitors and line charging at
        1 pu: capacitors draw ``-kvar * (kV_base / kV_rated)**2``; half of each line's
        ``j omega C`` sits at either end, coupled through ``gamma``."""
        n = len(self.node_phases)
        s = np.zeros(n, dtype=complex)
        net = self.network
        for row in self.feeder.tables.capacitors.itertuples(index=False):
            ph = parse_nodes(row.nodes, int(row.phases))
            kv_rated = row.kv / (np.sqrt(3.0) if int(row.phases) > 1 else 1.0)
            base = net.base_kv_ln[net.bus_index[row.bus]]
            for p in ph:
                at = self.node_index.get((row.bus, p))
                if at is not None:  # a shunt at the source bus does not move any voltage
                    s[at] -= 1j * row.kvar / len(ph) * (base / kv_rated) ** 2
        if line_charging:
            for bus, ph, s_kva in self._line_charging():
                at = self.node_index.get((bus, ph))
                if at is not None:
                    s[at] += s_kva
        return s.real.copy(), s.imag.copy()

    def _line_charging(self) -> list[tuple[str, int, complex]]:
        """(bus, phase, kVA) of half the shunt capacitance of every closed line at 1 pu."""
        t, net = self.feeder.tables, self.network
        omega = 2.0 * np.pi * float(t.meta.get("frequency_hz", 60.0))
        cmat: dict[str, tuple[np.ndarray, str]] = {}
        for code, grp in t.linecodes.groupby("linecode", sort=False):
            c = np.zeros((int(grp["nphases"].iloc[0]),) * 2)
            c[grp["row"] - 1, grp["col"] - 1] = grp["c_nf"]
            c[grp["col"] - 1, grp["row"] - 1] = grp["c_nf"]
            cmat[str(code).lower()] = (c, str(grp["units"].iloc[0]))
        out = []
        live = t.lines[(t.lines["enabled"] == 1) & (t.lines["normally_open"] == 0)]
        for row in live.itertuples(index=False):
            ph = parse_nodes(row.nodes, int(row.phases))
            if row.switch:
                continue
            if row.linecode:
                c, units = cmat[row.linecode.lower()]
                length = row.length * METERS.get(row.units, 1.0) / METERS.get(units, 1.0) \
                    if row.units in METERS and units in METERS else row.length
            else:
                nph = len(ph)
                c = np.full((nph, nph), (row.c0 - row.c1) / 3.0) + np.eye(nph) * row.c1
                length = row.length
            y = 1j * omega * c * length * 1e-9  # siemens
            for bus in (row.bus1, row.bus2):
                kv = net.base_kv_ln[net.bus_index[bus]]
                for a, pa in enumerate(ph):
                    # S_a = V_a conj(sum_b Y/2 V_b) = |V|^2 sum_b conj(Y_ab)/2 * a_a / a_b
                    s = sum(np.conj(y[a, b]) / 2.0 * PHASOR[pa] / PHASOR[pb]
                            for b, pb in enumerate(ph))
                    out.append((bus, pa, s * kv**2 * 1000.0))
        return out

    def load_injections(self, scale: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(p, q) of the feeder's loads (kW, kvar per node-phase), each load row scaled by
        ``scale`` (scalar or one value per row of ``feeder.loads``); delta loads are mapped
        to phase injections with :func:`load_phase_powers`. All loads are constant PQ."""
        loads = self.feeder.tables.loads
        factors = np.broadcast_to(np.asarray(scale, dtype=float), (len(loads),))
        p = np.zeros(len(self.node_phases))
        q = np.zeros(len(self.node_phases))
        for f, row in zip(factors, loads.itertuples(index=False), strict=True):
            powers = load_phase_powers(row.nodes, int(row.phases), row.conn,
                                       f * complex(row.kw, row.kvar))
            self._add(p, row.bus, powers, "p")
            self._add(q, row.bus, powers, "q")
        return p, q

    # -- evaluation ---------------------------------------------------------------------
    def solve(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> Solution:
        """Squared voltages and branch flows for injections ``p_kw``, ``q_kvar``."""
        return self._solve(p_kw, q_kvar)

    def _solve(self, p_kw: np.ndarray, q_kvar: np.ndarray,
               dv: np.ndarray | None = None) -> Solution:
        """:meth:`solve`, optionally with extra per-branch squared-voltage terms ``dv``
        (pu**2 at the to-bus node-phases, carried downstream)."""
        p = np.asarray(p_kw, dtype=float)
        q = np.asarray(q_kvar, dtype=float)
        n = len(self.node_phases)
        if p.shape != (n,) or q.shape != (n,):
            raise ValueError(f"injections must have shape ({n},) (one per node-phase); "
                             f"got p {p.shape}, q {q.shape}")
        v = self.v_const + self.v_from_p @ p + self.v_from_q @ q
        if dv is not None:
            v = v + self.feedback @ (self.path @ dv)
        scale = v if self.shunts == "impedance" else 1.0
        f = self.flow_from_injection
        return Solution(v_sq=v, p_kw=f @ (p + self.p_shunt_kw * scale),
                        q_kvar=f @ (q + self.q_shunt_kvar * scale))

    def second_order_terms(self, sol: Solution) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The terms the linear model drops, evaluated at the operating point ``sol``.

        Per branch ``k`` with phase currents ``I = conj(S / V)`` (``S`` the sending-end flow,
        ``V = a_phi t sqrt(v_from)``): the series loss ``(Z I)_phi conj(I_phi)`` (kW and
        kvar, booked at the to-bus node-phase so that the sending-end flow of every branch
        includes the losses of its own and all downstream branches) and the voltage term
        ``|(Z I)_phi|**2`` (pu**2, added to the to-bus squared voltage)."""
        net = self.network
        s = np.zeros(len(self.node_phases), dtype=complex)
        dv = np.zeros(len(self.node_phases))
        for k in range(net.n_branches):
            i, j = int(net.from_bus[k]), int(net.to_bus[k])
            phases = net.branch_phases[k]
            rows = [self.node_index[(net.buses[j], ph)] for ph in phases]
            cols = [self.branch_phase_index[(k, ph)] for ph in phases]
            v_from = (np.full(len(phases), self.source_v_sq) if i == 0 else
                      sol.v_sq[[self.node_index[(net.buses[i], ph)] for ph in phases]])
            kv = net.base_kv_ln[j] * self.tap_ratio[k] * np.sqrt(np.maximum(v_from, 1e-6))
            volts = kv * np.array([PHASOR[ph] for ph in phases])
            amps = np.conj((sol.p_kw[cols] + 1j * sol.q_kvar[cols]) / volts)
            drop = self._impedance(k) @ amps
            s[rows] += drop * np.conj(amps) / 1000.0
            dv[rows] += np.abs(drop) ** 2 / (1000.0 * net.base_kv_ln[j]) ** 2
        return s.real, s.imag, dv

    def solve_with_losses(self, p_kw: np.ndarray, q_kvar: np.ndarray,
                          passes: int = 2) -> Solution:
        """:meth:`solve` plus ``passes`` fixed-point corrections with the
        :meth:`second_order_terms` (losses and ``|Z I|**2``). Not linear: a convenience
        that sizes what the linear model leaves out, and gives loss estimates."""
        p0, q0 = np.asarray(p_kw, dtype=float), np.asarray(q_kvar, dtype=float)
        sol = self.solve(p0, q0)
        for _ in range(passes):
            pl, ql, dv = self.second_order_terms(sol)
            sol = self._solve(p0 + pl, q0 + ql, dv)
        return sol

    def node_labels(self) -> list[str]:
        """``bus.phase`` labels of :attr:`node_phases` (OpenDSS node names)."""
        return [f"{b}.{p}" for b, p in self.node_phases]
