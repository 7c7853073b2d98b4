"""Balanced branch-flow (DistFlow) physics on a radial ``Network``: power flow and OPF builders.

Per unit of the balanced single-phase equivalent (see ``feeders.network``); branch ``k``
feeds bus ``k + 1`` from ``from_bus[k]``; squared voltages ``v`` and squared currents ``l``.

- ``distflow``: exact (non-relaxed) power flow by backward/forward sweep.
- ``SocpFlow``: the DistFlow equations with the second-order-cone relaxation
  ``P^2 + Q^2 <= v l`` (Farivar-Low), losses ``r l`` as variables.
- ``LinDistFlow``: the same balances and voltage drops with the losses fixed at an estimate
  ``lhat`` that ``update_losses`` refreshes from the last solution (at most a few re-solves);
  a quadratic loss proxy ``sum lm r (P^2 + Q^2) / v_parent`` prices them in the objective.

Both builders add the same named constraints (``bal_p``, ``bal_q``, ``volt``, [``soc``],
[``line``], ``bal0_p``, ``bal0_q``, ``v0``) to a dict the caller owns, so an optimisation
(the market's OPF, envelopes, hosting capacity) adds its own terms around them. Balances
read ``load + outflow (+ losses) - inflow == 0``: their duals are marginal costs of load.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from feeders.network import Network

BIG_L = 1e4  # pu^2 stand-in for "no current limit"


def distflow(net: Network, p: np.ndarray, q: np.ndarray, tol: float = 1e-10,
             max_iter: int = 100, v_source_pu: float | None = None,
             tap: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Exact DistFlow power flow by backward/forward sweep (vectorised).

    ``p, q`` are bus loads [pu] (load convention); ``tap`` the voltage ratio per branch
    (default: the network's). Returns v (squared voltage), P, Q (sending end), l (squared
    current) and the PCC import P0, Q0; the source holds ``v_source_pu`` (default: the
    network's). With a tap ratio t_k on branch k, v_j = t_k^2 (v_i - drop_k); dividing by
    c_j = prod of t^2 from the source makes the forward sweep a plain sum over the path:
    v_j / c_j = v_0 - sum drop_k / c_parent(k).
    """
    n = net.n
    D = net.subtree_matrix()
    Dt = D.T.tocsr()
    par = net.from_bus
    r, x = net.r_bal_pu, net.x_bal_pu
    z2 = r ** 2 + x ** 2
    t2 = (net.tap_ratio if tap is None else tap) ** 2
    log_c = Dt @ np.concatenate([[0.0], np.log(t2)])  # sum over the path of log t^2
    c = np.exp(log_c)
    v0 = (net.v_source_pu if v_source_pu is None else v_source_pu) ** 2
    v = np.full(n, v0)
    l = np.zeros(n - 1)
    for _ in range(max_iter):
        P = D @ (p + np.concatenate([[0.0], r * l]))
        Q = D @ (q - net.shunt_q_pu * v + np.concatenate([[0.0], x * l]))
        drop = 2 * (r * P[1:] + x * Q[1:]) - z2 * l
        vn = c * (v0 - Dt @ np.concatenate([[0.0], drop / c[par]]))
        ln = (P[1:] ** 2 + Q[1:] ** 2) / vn[par]
        done = np.max(np.abs(vn - v)) < tol and np.max(np.abs(ln - l), initial=0.0) < tol
        v, l = vn, ln
        if done:
            break
    return {"v": v, "P": P[1:], "Q": Q[1:], "l": l, "P0": P[0], "Q0": Q[0]}


class BranchFlow:
    """Shared part of the balanced branch-flow builders: variables, taps, line limits."""

    relaxed = False  # True: SOC relaxation with current variables

    def __init__(self, net: Network, line_limits: bool = True):
        self.net = net
        self.line_limits = line_limits
        n, m = net.n, net.m
        self.ch = sp.csr_matrix(net.children_matrix())  # n x m
        self.t2 = cp.Parameter(m, nonneg=True)
        self.lmax = cp.Parameter(m, nonneg=True)
        self.P, self.Q = cp.Variable(m, name="P"), cp.Variable(m, name="Q")
        self.v = cp.Variable(n, name="v")
        self.tap = np.asarray(net.tap_ratio, dtype=float).copy()
        self.vpar = np.ones(m)  # parent squared voltages of the last solve (loss proxy)

    def set_static(self, v_min_pu: float) -> None:
        """Tap ratios from the network, current limits (pu^2; BIG_L when unlimited)."""
        net = self.net
        self.t2.value = self.tap ** 2
        imax = np.where(np.isfinite(net.i_max_bal_pu), net.i_max_bal_pu, np.sqrt(BIG_L))
        self.lmax.value = (np.minimum(imax ** 2, BIG_L) if self.line_limits
                           else np.full(net.m, BIG_L))

    def set_taps(self, ratios: np.ndarray) -> None:
        """Regulator / transformer voltage ratios per branch."""
        self.tap = np.asarray(ratios, dtype=float).copy()
        self.t2.value = self.tap ** 2

    def root(self, pn: cp.Expression, qn: cp.Expression, P0: cp.Expression,
             Q0: cp.Expression, v0: cp.Expression, slack: int,
             cons: dict[str, cp.Constraint]) -> None:
        """Balance of the source bus (import P0, Q0) and the reference voltage at `slack`."""
        cons["bal0_p"] = pn[0] + self.ch[0] @ self.P - P0 == 0
        cons["bal0_q"] = qn[0] + self.ch[0] @ self.Q - Q0 == 0
        cons["v0"] = self.v[slack] == v0

    def update_losses(self) -> bool:
        """Refresh a fixed loss estimate from the last solution; True when converged."""
        return True

    def currents(self) -> tuple[np.ndarray, np.ndarray]:
        """(squared currents of the model, squared currents P^2+Q^2/v of its flows)."""
        raise NotImplementedError

    def fixed_losses_pu(self) -> float:
        """Losses held fixed in the balances (LinDistFlow's estimate) [pu]."""
        return 0.0


class SocpFlow(BranchFlow):
    """DistFlow with the SOC relaxation; losses are priced at `loss_price` per pu."""

    relaxed = True

    def __init__(self, net: Network, line_limits: bool = True):
        super().__init__(net, line_limits)
        self.l = cp.Variable(net.m, nonneg=True, name="l")
        self.loss_price = cp.Parameter(nonneg=True)

    def set_loss_price(self, c_loss: float, c_ref: float) -> None:
        """`c_loss`: extra price of losses; `c_ref` (import price) is paid through P0."""
        self.loss_price.value = c_loss

    def build(self, pn: cp.Expression, qn: cp.Expression, obj: cp.Expression,
              cons: dict[str, cp.Constraint]) -> cp.Expression:
        """Branch balances, voltage drops, cones and line limits; returns obj + loss cost."""
        net, P, Q, v, l, ch = self.net, self.P, self.Q, self.v, self.l, self.ch
        r, x, par, t2 = net.r_bal_pu, net.x_bal_pu, net.from_bus, self.t2
        z2 = r ** 2 + x ** 2
        obj += self.loss_price * (r @ l)
        cons["bal_p"] = pn[1:] + ch[1:] @ P + cp.multiply(r, l) - P == 0
        cons["bal_q"] = qn[1:] + ch[1:] @ Q + cp.multiply(x, l) - Q == 0
        cons["volt"] = v[1:] - cp.multiply(t2, v[par] - 2 * (cp.multiply(r, P) + cp.multiply(
            x, Q)) + cp.multiply(z2, l)) == 0
        cons["soc"] = cp.SOC(v[par] + l, cp.vstack([2 * P, 2 * Q, v[par] - l]), axis=0)
        if self.line_limits:
            cons["line"] = l <= self.lmax
        return obj

    def lossless_voltage(self, pn: cp.Expression, qn: cp.Expression, v0: cp.Expression,
                         slack: int, cons: dict[str, cp.Constraint]) -> cp.Variable:
        """LinDistFlow (lossless) voltages, an upper bound of the DistFlow voltages
        (Gan-Li-Topcu-Low): bounding them keeps the relaxation exact when v_max binds."""
        net, ch, t2 = self.net, self.ch, self.t2
        r, x, par, m = net.r_bal_pu, net.x_bal_pu, net.from_bus, net.m
        Pl, Ql, vl = cp.Variable(m, name="Pl"), cp.Variable(m, name="Ql"), cp.Variable(net.n)
        cons["bal_pl"] = pn[1:] + ch[1:] @ Pl - Pl == 0
        cons["bal_ql"] = qn[1:] + ch[1:] @ Ql - Ql == 0
        cons["vl0"] = vl[slack] == v0
        cons["vlin"] = vl[1:] - cp.multiply(t2, vl[par] - 2 * (
            cp.multiply(r, Pl) + cp.multiply(x, Ql))) == 0
        return vl

    def currents(self) -> tuple[np.ndarray, np.ndarray]:
        P, Q = self.P.value, self.Q.value
        vpar = np.maximum(self.v.value, 1e-9)[self.net.from_bus]
        return np.maximum(self.l.value, 0.0), (P ** 2 + Q ** 2) / vpar


class LinDistFlow(BranchFlow):
    """LinDistFlow with a fixed, iteratively updated loss estimate and a loss proxy."""

    def __init__(self, net: Network, line_limits: bool = True, loss_tol: float = 1e-3):
        super().__init__(net, line_limits)
        m = net.m
        self.loss_tol = loss_tol
        self.lhat = cp.Parameter(m, nonneg=True, name="lhat")
        # loss proxy (c_loss + c_ref) * r (P^2 + Q^2) / v_i, with v_i from the last solve
        self.sr = cp.Parameter(m, nonneg=True, name="sqrt_loss_weight")
        self.lz = cp.Parameter(m, name="tap2_z2_lhat")  # t^2 z^2 lhat
        self.smax2 = cp.Parameter(m, nonneg=True, name="smax2")
        self.loss_weight = 0.0

    def set_static(self, v_min_pu: float) -> None:
        super().set_static(v_min_pu)
        self.smax2.value = self.lmax.value * v_min_pu ** 2  # |S|^2 <= I_max^2 v_min
        self._set_lhat(np.zeros(self.net.m))

    def set_taps(self, ratios: np.ndarray) -> None:
        super().set_taps(ratios)
        self._set_lhat(self.lhat.value)

    def _set_lhat(self, lhat: np.ndarray) -> None:
        net = self.net
        self.lhat.value = lhat
        self.lz.value = self.tap ** 2 * (net.r_bal_pu ** 2 + net.x_bal_pu ** 2) * lhat

    def set_loss_price(self, c_loss: float, c_ref: float) -> None:
        """Losses are bought at the reference price `c_ref` plus the extra price `c_loss`."""
        self.loss_weight = max(c_loss + c_ref, 0.0)
        self._set_sr()

    def _set_sr(self) -> None:
        self.sr.value = np.sqrt(self.loss_weight * self.net.r_bal_pu / self.vpar)

    def build(self, pn: cp.Expression, qn: cp.Expression, obj: cp.Expression,
              cons: dict[str, cp.Constraint]) -> cp.Expression:
        """Branch balances with fixed losses, linear voltage drops, |S| limits; returns obj
        plus the quadratic loss proxy."""
        net, P, Q, v, ch, sr = self.net, self.P, self.Q, self.v, self.ch, self.sr
        r, x, par, t2, lh = net.r_bal_pu, net.x_bal_pu, net.from_bus, self.t2, self.lhat
        obj += cp.sum_squares(cp.multiply(sr, P)) + cp.sum_squares(cp.multiply(sr, Q))
        cons["bal_p"] = pn[1:] + ch[1:] @ P + cp.multiply(r, lh) - P == 0
        cons["bal_q"] = qn[1:] + ch[1:] @ Q + cp.multiply(x, lh) - Q == 0
        cons["volt"] = v[1:] - cp.multiply(t2, v[par] - 2 * (cp.multiply(r, P) + cp.multiply(
            x, Q))) - self.lz == 0
        if self.line_limits:
            cons["line"] = cp.square(P) + cp.square(Q) <= self.smax2
        return obj

    def update_losses(self) -> bool:
        net = self.net
        vpar = np.maximum(self.v.value[net.from_bus], 0.5)
        lhat = (self.P.value ** 2 + self.Q.value ** 2) / vpar
        old = float(net.r_bal_pu @ self.lhat.value)
        converged = abs(float(net.r_bal_pu @ lhat) - old) <= self.loss_tol * max(old, 1e-9)
        self._set_lhat(lhat)
        self.vpar = vpar
        self._set_sr()
        return converged

    def currents(self) -> tuple[np.ndarray, np.ndarray]:
        lhat = self.lhat.value.copy()
        return lhat, lhat

    def fixed_losses_pu(self) -> float:
        return float(self.net.r_bal_pu @ self.lhat.value)
