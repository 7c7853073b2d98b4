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
(1 elsewhere; transformers also carry their off-nominal ratio). The imaginary part of the
same linearisation gives the phase-angle deviations ``theta`` (rad), which a three-phase
transformer with a delta winding needs: it passes line-to-line voltages only. Delta loads
become phase injections under balanced nominal voltages; capacitors and line charging are
constant impedances (or fixed injections). See docs/lindist3flow.md.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from feeders.catalog import Feeder
from feeders.lindist3flow_injections import (
    capacitor_powers,
    delta_to_phases,
    gamma,
    line_charging_powers,
    load_phase_powers,
)
from feeders.lindist3flow_losses import fold_constant, linearize, second_order_terms
from feeders.topology import parse_nodes

__all__ = ["LinDist3Flow", "Solution", "delta_to_phases", "load_phase_powers"]


@dataclass(frozen=True)
class Solution:
    """Result of :meth:`LinDist3Flow.solve` (arrays follow the model's index lists)."""

    v_sq: np.ndarray
    """Squared voltage magnitude (pu**2) per node-phase."""
    p_kw: np.ndarray
    """Sending-end active flow per branch-phase (kW, positive away from the source)."""
    q_kvar: np.ndarray
    theta_rad: np.ndarray
    """Phase-angle deviation (rad) per node-phase from its nominal 0, -120 or 120 degrees,
    relative to the source angle (the -30 degrees of a delta-wye transformer included)."""

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

    and likewise ``theta = theta_const + theta_from_p @ p + theta_from_q @ q`` (rad).
    Voltage maps are dense numpy arrays, flow maps scipy sparse arrays; the topology alone
    is ``flow_from_injection`` (1 where a node-phase is downstream of a branch-phase).

    ``taps`` maps regulator names to integer steps (default: the published taps); a step
    is ``feeder.tap_step`` of ratio. ``shunts``: capacitors and line charging as constant
    impedances (``s = s_1pu * v``, still linear in ``v``, the default) or as ``fixed``
    injections at 1 pu (then ``p_flow_from_p = flow_from_injection``, cross terms zero).
    ``losses``: ``"none"`` (plain LinDist3Flow), ``"nominal"`` (losses and ``|Z I|**2`` at
    nominal load added to the constants) or ``"linearized"`` (the first-order expansion of
    the loss-corrected model at nominal load); see :mod:`feeders.lindist3flow_losses`.
    """

    def __init__(self, feeder: Feeder, taps: Mapping[str, int] | None = None,
                 line_charging: bool = True,
                 shunts: Literal["impedance", "fixed"] = "impedance",
                 losses: Literal["none", "nominal", "linearized"] = "none") -> None:
        if losses not in ("none", "nominal", "linearized"):
            raise ValueError(f"losses must be 'none', 'nominal' or 'linearized', got {losses!r}")
        if shunts not in ("impedance", "fixed"):
            raise ValueError(f"shunts must be 'impedance' or 'fixed', got {shunts!r}")
        self.shunts = shunts
        self.feeder = feeder
        self.taps = dict(feeder.published_taps if taps is None else taps)
        known = {n.lower() for n in feeder.regulators}
        unknown = sorted(n for n in self.taps if n.lower() not in known)
        if unknown:
            raise ValueError(f"taps: unknown regulator(s) {unknown}; "
                             f"known: {sorted(feeder.regulators)}")
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
        self.losses = losses
        self.base = self
        """The model without second-order terms (``self`` unless ``losses`` is set)."""
        if losses != "none":
            self.base = copy.copy(self)
            self.base.base = self.base
            operating_point = self.base.solve_with_losses(*self.load_injections(), passes=8)
            if losses == "nominal":
                fold_constant(self, operating_point)
            else:
                linearize(self, operating_point)

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
        steps = {n.lower(): int(s) for n, s in self.taps.items()}
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
        """Complex map ``M`` of the relative phasor deviations across branch ``k`` (before
        taps): identity, or for a three-phase transformer with a delta winding, which passes
        line-to-line voltages only, ``M = I - conj(gamma) / 3`` (``V_phi - mean(V)``)."""
        net = self.network
        phases = net.branch_phases[k]
        if net.branch_kind[k] not in ("transformer", "regulator") or len(phases) != 3:
            return np.eye(len(phases), dtype=complex)
        rows = self._transformer_rows(k)
        delta = any(str(r[c]).lower().startswith("d") for r in rows for c in ("conn1", "conn2"))
        return np.eye(3) - np.conj(gamma(phases)) / 3.0 if delta else np.eye(3, dtype=complex)

    def _phase_shift(self, k: int) -> float:
        """Fixed angle shift (rad) of branch ``k``: -30 degrees from the high- to the
        low-voltage side of a transformer with one delta and one wye winding (ANSI, as
        OpenDSS), 0 elsewhere."""
        if self.network.branch_kind[k] not in ("transformer", "regulator"):
            return 0.0
        row = self._transformer_rows(k)[0]
        conns = [str(row[c]).lower().startswith("d") for c in ("conn1", "conn2")]
        if conns[0] == conns[1]:
            return 0.0
        return float(np.radians(-30.0 if row["kv1"] >= row["kv2"] else 30.0))

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
        # State x = [v, theta] per node-phase: (I - T) x = x_src + B [P; Q] along the tree.
        # With delta_n = (v_n - 1) / 2 + j theta_n the phasor is a_phi (1 + delta_n), and
        # delta_j = M (t delta_i) - sum_psi conj(Z gamma*)[phi, psi] conj(S_psi) / (1000 kV^2).
        t_rows, t_cols, t_vals = [], [], []
        src = np.zeros(2 * n)
        bp = np.zeros((2 * n, m))
        bq = np.zeros((2 * n, m))
        self.tap_ratio: list[np.ndarray] = []
        for k in range(net.n_branches):
            i, j = int(net.from_bus[k]), int(net.to_bus[k])
            phases = net.branch_phases[k]
            ratio = self._tap_ratios(k)
            self.tap_ratio.append(ratio)
            cz = np.conj(self._impedance(k)) * gamma(phases) / (1000.0 * net.base_kv_ln[j] ** 2)
            cm = self._coupling(k)
            cols_k = [self.branch_phase_index[(k, ph)] for ph in phases]
            shift = self._phase_shift(k)
            for a, ph in enumerate(phases):
                row = self.node_index[(net.buses[j], ph)]
                src[row + n] += shift
                for b, ph_from in enumerate(phases):
                    # v' = t^2 (Re M v - 2 Im M theta), theta' = Im M v / 2 + Re M theta
                    block = ((row, 0, ratio[a] ** 2 * cm[a, b].real),
                             (row, n, -2.0 * ratio[a] ** 2 * cm[a, b].imag),
                             (row + n, 0, cm[a, b].imag / 2.0),
                             (row + n, n, cm[a, b].real))
                    for r, offset, w in block:
                        if w == 0.0:
                            continue
                        if i == 0:  # the source: v = source_v_sq, theta = 0
                            src[r] += w * self.source_v_sq if offset == 0 else 0.0
                        else:
                            t_rows.append(r)
                            t_cols.append(self.node_index[(net.buses[i], ph_from)] + offset)
                            t_vals.append(w)
                bp[row, cols_k] = -2.0 * cz[a].real
                bq[row, cols_k] = 2.0 * cz[a].imag
                bp[row + n, cols_k] = cz[a].imag
                bq[row + n, cols_k] = cz[a].real
        system = sp.eye(2 * n, format="csc") - sp.csc_array((t_vals, (t_rows, t_cols)),
                                                            shape=(2 * n, 2 * n))
        path = np.linalg.inv(system.toarray())  # dense: the voltage maps are dense anyway
        self.path = sp.csc_array(np.where(np.abs(path) > 0.0, path, 0.0))
        """``(I - T)^-1`` on ``[v, theta]``: the tree recursion solved once."""
        f = self.flow_from_injection
        u = self.path @ src
        xp0 = np.asarray(f.T @ (self.path @ bp).T).T  # (2n, n), before the shunt feedback
        xq0 = np.asarray(f.T @ (self.path @ bq).T).T
        ps, qs = self.shunt_injections(line_charging)
        self.p_shunt_kw, self.q_shunt_kvar = ps, qs
        """Shunt injections (kW, kvar per node-phase) at 1 pu."""
        if self.shunts == "impedance":  # s = s_1pu * v: solve v = u + V0 (x + s_1pu * v)
            fb = np.linalg.inv(np.eye(n) - xp0[:n] * ps - xq0[:n] * qs)
            v_const = fb @ u[:n]
            v_from_p, v_from_q = fb @ xp0[:n], fb @ xq0[:n]
            sp_v, sq_v = ps[:, None] * v_from_p, qs[:, None] * v_from_q
            spq, sqp = ps[:, None] * v_from_q, qs[:, None] * v_from_p
            self.theta_const = u[n:] + xp0[n:] @ (ps * v_const) + xq0[n:] @ (qs * v_const)
            self.theta_from_p = xp0[n:] + xp0[n:] @ sp_v + xq0[n:] @ sqp
            self.theta_from_q = xq0[n:] + xp0[n:] @ spq + xq0[n:] @ sq_v
        else:
            fb = np.eye(n)
            v_const = u[:n] + xp0[:n] @ ps + xq0[:n] @ qs
            v_from_p, v_from_q = xp0[:n], xq0[:n]
            self.theta_const = u[n:] + xp0[n:] @ ps + xq0[n:] @ qs
            self.theta_from_p, self.theta_from_q = xp0[n:], xq0[n:]
        self.feedback = fb
        """``(I - V0 diag(s_1pu))^-1``: how a voltage change echoes through the shunts."""
        self.v_const = v_const
        """(n,) squared voltages (pu**2) at zero injection: source, taps and shunts."""
        self.v_from_p = v_from_p
        """(n, n) d v_sq / d p (pu**2 per kW)."""
        self.v_from_q = v_from_q
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
        """Capacitor (and line-charging) injections at 1 pu (kW, kvar per node-phase, load
        convention); a shunt at the source bus moves no voltage and is left out."""
        s = np.zeros(len(self.node_phases), dtype=complex)
        items = capacitor_powers(self.feeder)
        if line_charging:
            items += line_charging_powers(self.feeder)
        for bus, ph, s_kva in items:
            at = self.node_index.get((bus, ph))
            if at is not None:
                s[at] += s_kva
        return s.real.copy(), s.imag.copy()

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
        flow_p = self.p_flow_const + self.p_flow_from_p @ p + self.p_flow_from_q @ q
        flow_q = self.q_flow_const + self.q_flow_from_p @ p + self.q_flow_from_q @ q
        theta = self.theta_const + self.theta_from_p @ p + self.theta_from_q @ q
        if dv is not None:
            carried = self.path[:, :n] @ dv
            extra = self.feedback @ carried[:n]
            v = v + extra
            theta = theta + carried[n:]
            if self.shunts == "impedance":  # the shunts follow the voltage
                flow_p = flow_p + self.flow_from_injection @ (self.p_shunt_kw * extra)
                flow_q = flow_q + self.flow_from_injection @ (self.q_shunt_kvar * extra)
        return Solution(v_sq=v, p_kw=flow_p, q_kvar=flow_q, theta_rad=theta)

    def second_order_terms(self, sol: Solution) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the linear model drops, at the point ``sol``: series losses (kW, kvar per
        node-phase, booked at each branch's to-bus) and ``|Z I|**2`` (pu**2); see
        :mod:`feeders.lindist3flow_losses`."""
        return second_order_terms(self.base, sol)

    def solve_with_losses(self, p_kw: np.ndarray, q_kvar: np.ndarray,
                          passes: int = 2) -> Solution:
        """The plain linear model plus ``passes`` fixed-point corrections with the
        :meth:`second_order_terms`. Not linear: a convenience that sizes what the linear
        model leaves out, and gives loss estimates."""
        base = self.base
        p0, q0 = np.asarray(p_kw, dtype=float), np.asarray(q_kvar, dtype=float)
        sol = base.solve(p0, q0)
        for _ in range(passes):
            pl, ql, dv = second_order_terms(base, sol)
            sol = base._solve(p0 + pl, q0 + ql, dv)
        return sol

    def node_labels(self) -> list[str]:
        """``bus.phase`` labels of :attr:`node_phases` (OpenDSS node names)."""
        return [f"{b}.{p}" for b, p in self.node_phases]
