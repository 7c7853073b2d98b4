"""Balanced LinDistFlow sensitivities of a radial feeder (interim network model of the study).

LABEL: balanced single-phase equivalent, linear (no losses), built here from
``feeders.Network`` data until the shared balanced LinDistFlow and the three-phase
LinDist3Flow land in ``feeders/``. The dispatch only sees the :class:`Sensitivity`
interface, so either model can replace this one.

Equivalent impedance of an ``n``-phase branch: ``(3/n) z_n`` (positive-sequence for
multi-phase branches, self impedance for single-phase ones), so that the three-phase power
carried on the equivalent gives the real branch's voltage drop. Voltage magnitudes change by
``d|V| = -(r P + x Q)`` per branch (|V| ~ 1 pu), flows are the sums of downstream injections.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from feeders.network import Network

MIN_Z_PU = 1e-6


@dataclass(frozen=True)
class Sensitivity:
    """Linear map from bus injections (kW, kvar; generation positive) to flows and voltages.

    ``flow`` (K, B): change of power into branch k from its parent per kW injected at bus j
    (-1 where j is downstream of branch k). ``v_from_flow_p`` / ``v_from_flow_q`` (K, B):
    change of |V| [pu] at bus i per kW / kvar of extra flow in branch k. Together
    ``dV = (flow.T @ v_from_flow)`` are the voltage sensitivities. The QP uses the
    equivalent sparse branch form: flow_k = sum of child flows - injection at to_bus(k),
    V(to_k) - V(from_k) = -(r_k flow_k + x_k qflow_k).
    """

    flow: sp.csr_matrix
    v_from_flow_p: sp.csr_matrix
    v_from_flow_q: sp.csr_matrix
    from_bus: np.ndarray  # (K,) parent bus of each branch (sparse form used by the QP)
    to_bus: np.ndarray  # (K,)
    r_pu_per_kw: np.ndarray  # (K,) |V| drop per kW of branch flow [pu/kW]
    x_pu_per_kvar: np.ndarray  # (K,)

    def voltage_sensitivities(self) -> tuple[np.ndarray, np.ndarray]:
        """Dense (B, B) dV_i / dp_j and dV_i / dq_j [pu per kW, pu per kvar]."""
        dvp = (self.v_from_flow_p.T @ self.flow).toarray()
        dvq = (self.v_from_flow_q.T @ self.flow).toarray()
        return dvp, dvq


def downstream_matrix(net: Network) -> sp.csr_matrix:
    """(K, B): 1 where bus j is the to-bus of branch k or fed through it."""
    rows, cols = [], []
    for k in range(net.n_branches):
        down = net.downstream_buses(int(net.to_bus[k]))
        rows.extend([k] * len(down))
        cols.extend(down.tolist())
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(net.n_branches, net.n_buses))


def equivalent_impedance_pu(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """Balanced-equivalent series r, x per branch [pu of s_base_kva]."""
    n_ph = np.array([max(len(p), 1) for p in net.branch_phases], dtype=float)
    scale = np.where(np.isin(net.branch_kind, ["line", "switch"]), 3.0 / n_ph, 1.0)
    r = np.nan_to_num(net.r_pu()) * scale
    x = np.nan_to_num(net.x_pu()) * scale
    return np.maximum(r, MIN_Z_PU), np.maximum(x, MIN_Z_PU)


def balanced_lindistflow(net: Network) -> Sensitivity:
    """The balanced LinDistFlow sensitivities of ``net``."""
    down = downstream_matrix(net)
    r, x = equivalent_impedance_pu(net)
    # flow into branch k (parent -> child) = load downstream = -sum of injections
    flow = -down
    vp = -(sp.diags(r / net.s_base_kva) @ down)
    vq = -(sp.diags(x / net.s_base_kva) @ down)
    return Sensitivity(flow.tocsr(), vp.tocsr(), vq.tocsr(), net.from_bus.copy(),
                       net.to_bus.copy(), r / net.s_base_kva, x / net.s_base_kva)
