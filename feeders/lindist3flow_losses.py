"""Second-order terms of LinDist3Flow: series losses and ``|Z I|**2``, their values and
their first derivatives in the branch flows, and the affine models that fold them in.

Per branch ``k`` with sending-end flows ``S`` and from-side phasors ``V`` (``a_phi t
sqrt(v_from) e^(j theta_from)``, kV) the phase currents are ``I = conj(u)``, ``u = S / V``;
``w = Z I`` is the series drop (V). The loss of phase ``phi`` is ``w_phi u_phi / 1000``
(kVA; booked at the to-bus node-phase so that adding it to the injections makes every
sending-end flow include the losses of its own and all downstream branches) and the voltage
term is ``|w_phi|**2 / (1000 kV_j)**2`` (pu**2, added to the to-bus squared voltage).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from feeders.lindist3flow_injections import PHASOR

if TYPE_CHECKING:
    from feeders.lindist3flow import LinDist3Flow, Solution


def _branch_point(model: LinDist3Flow, sol: Solution, k: int):
    """Rows (to-bus node-phases), columns (branch-phases), from-bus node-phases (None at
    the source), from-side phasors (kV) and ``u = S / V`` of branch ``k`` at ``sol``."""
    net = model.network
    i, j = int(net.from_bus[k]), int(net.to_bus[k])
    phases = net.branch_phases[k]
    rows = [model.node_index[(net.buses[j], ph)] for ph in phases]
    cols = [model.branch_phase_index[(k, ph)] for ph in phases]
    if i == 0:
        at = None
        v_from, th_from = np.full(len(phases), model.source_v_sq), np.zeros(len(phases))
    else:
        at = [model.node_index[(net.buses[i], ph)] for ph in phases]
        v_from, th_from = sol.v_sq[at], sol.theta_rad[at]
    kv = net.base_kv_ln[j] * model.tap_ratio[k] * np.sqrt(np.maximum(v_from, 1e-6))
    volts = kv * np.array([PHASOR[ph] for ph in phases]) * np.exp(1j * th_from)
    u = (sol.p_kw[cols] + 1j * sol.q_kvar[cols]) / volts
    return rows, cols, at, volts, v_from, u


def second_order_terms(model: LinDist3Flow, sol: Solution
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Losses (kW, kvar) and voltage terms (pu**2) per node-phase at the point ``sol``."""
    net = model.network
    s = np.zeros(len(model.node_phases), dtype=complex)
    dv = np.zeros(len(model.node_phases))
    for k in range(net.n_branches):
        rows, _, _, _, _, u = _branch_point(model, sol, k)
        w = model._impedance(k) @ np.conj(u)
        s[rows] += w * u / 1000.0
        dv[rows] += np.abs(w) ** 2 / (1000.0 * net.base_kv_ln[int(net.to_bus[k])]) ** 2
    return s.real, s.imag, dv


def second_order_jacobian(model: LinDist3Flow, sol: Solution) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives of the second-order terms at ``sol`` in ``z = [P; Q; v; theta]`` (flows
    per branch-phase, state per node-phase): ``d[p_loss; q_loss] / dz`` (2n x (2m + 2n))
    and ``d dv / dz`` (n x (2m + 2n))."""
    net = model.network
    n, m = len(model.node_phases), len(model.branch_phases)
    jl = np.zeros((2 * n, 2 * m + 2 * n))
    jd = np.zeros((n, 2 * m + 2 * n))
    for k in range(net.n_branches):
        rows, cols, at, volts, v_from, u = _branch_point(model, sol, k)
        z = model._impedance(k)
        w = z @ np.conj(u)
        scale = (1000.0 * net.base_kv_ln[int(net.to_bus[k])]) ** 2
        for b, col in enumerate(cols):
            # d u_b: by P_b, Q_b (1/V, j/V); by v_from_b (-u/2v) and theta_from_b (-j u)
            moves = [(col, 1.0 / volts[b]), (col + m, 1j / volts[b])]
            if at is not None:
                moves += [(2 * m + at[b], -u[b] / (2.0 * v_from[b])),
                          (2 * m + n + at[b], -1j * u[b])]
            for column, du_b in moves:
                du = np.zeros(len(cols), dtype=complex)
                du[b] = du_b
                dw = z @ np.conj(du)
                dloss = (dw * u + w * du) / 1000.0
                jl[rows, column] += dloss.real
                jl[[r + n for r in rows], column] += dloss.imag
                jd[rows, column] += 2.0 * np.real(np.conj(w) * dw) / scale
    return jl, jd


def _maps(model: LinDist3Flow):
    """The model's affine maps as blocks: flows y from injections x = [p; q], from extra
    squared-voltage terms dv, and the same for v and theta."""
    n = len(model.node_phases)
    g = np.block([[_dense(model.p_flow_from_p), _dense(model.p_flow_from_q)],
                  [_dense(model.q_flow_from_p), _dense(model.q_flow_from_q)]])
    vx = np.hstack([model.v_from_p, model.v_from_q])
    tx = np.hstack([model.theta_from_p, model.theta_from_q])
    carried = model.path[:, :n].toarray()
    e_v = model.feedback @ carried[:n]
    e_t = carried[n:]
    f = model.flow_from_injection
    if model.shunts == "impedance":
        h = np.vstack([f @ (model.p_shunt_kw[:, None] * e_v), f @ (model.q_shunt_kvar[:, None]
                                                                  * e_v)])
    else:
        h = np.zeros((2 * len(model.branch_phases), n))
    y_c = np.concatenate([model.p_flow_const, model.q_flow_const])
    return g, vx, tx, e_v, e_t, h, y_c


def _dense(a) -> np.ndarray:
    return a.toarray() if sp.issparse(a) else np.asarray(a)


def fold_constant(model: LinDist3Flow, sol: Solution) -> None:
    """Add the second-order terms at ``sol`` to the constants (the matrices stay)."""
    pl, ql, dv = second_order_terms(model, sol)
    g, vx, tx, e_v, e_t, h, _ = _maps(model)
    x = np.concatenate([pl, ql])
    y = g @ x + h @ dv
    m = len(model.branch_phases)
    model.v_const = model.v_const + vx @ x + e_v @ dv
    model.theta_const = model.theta_const + tx @ x + e_t @ dv
    model.p_flow_const = model.p_flow_const + y[:m]
    model.q_flow_const = model.q_flow_const + y[m:]


def linearize(model: LinDist3Flow, sol: Solution) -> None:
    """Replace the model's affine maps by their first-order expansion around ``sol`` (a
    fixed point of ``solve_with_losses``) with the second-order terms included.

    With ``z = [y; s]`` (flows ``y = [P; Q]``, state ``s = [v; theta]``) the corrected model
    is ``z = z_c + A (x + l(z)) + D dv(z)``; with ``l`` and ``dv`` expanded to first order
    at ``sol`` it is solved for ``z`` as an affine function of ``x = [p; q]``."""
    n, m = len(model.node_phases), len(model.branch_phases)
    pl, ql, dv0 = second_order_terms(model, sol)
    jl, jd = second_order_jacobian(model, sol)
    z0 = np.concatenate([sol.p_kw, sol.q_kvar, sol.v_sq, sol.theta_rad])
    l_c = np.concatenate([pl, ql]) - jl @ z0
    d_c = dv0 - jd @ z0
    g, vx, tx, e_v, e_t, h, y_c = _maps(model)
    a = np.vstack([g, vx, tx])
    d = np.vstack([h, e_v, e_t])
    z_c = np.concatenate([y_c, model.v_const, model.theta_const])
    k = np.linalg.inv(np.eye(2 * m + 2 * n) - a @ jl - d @ jd)
    z_const = k @ (z_c + a @ l_c + d @ d_c)
    z_from_x = k @ a
    ys, vs, ts = slice(0, 2 * m), slice(2 * m, 2 * m + n), slice(2 * m + n, None)
    model.v_const = z_const[vs]
    model.v_from_p, model.v_from_q = z_from_x[vs, :n], z_from_x[vs, n:]
    model.theta_const = z_const[ts]
    model.theta_from_p, model.theta_from_q = z_from_x[ts, :n], z_from_x[ts, n:]
    y_const, y_from_x = z_const[ys], z_from_x[ys]
    model.p_flow_const, model.q_flow_const = y_const[:m], y_const[m:]
    model.p_flow_from_p = sp.csr_array(y_from_x[:m, :n])
    model.p_flow_from_q = sp.csr_array(y_from_x[:m, n:])
    model.q_flow_from_p = sp.csr_array(y_from_x[m:, :n])
    model.q_flow_from_q = sp.csr_array(y_from_x[m:, n:])
