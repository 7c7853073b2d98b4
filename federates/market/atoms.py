"""The primary market's branch-flow SOCP split into atoms, one per bus (spec B).

Atom j (bus j >= 1) holds its upstream branch (P_j, Q_j, l_j), its squared voltage v_j,
the voltage-limit slacks, its agents' adjustments (dp, dq, pg) and copies of its parent's
voltage (vp_j) and of its children's flows (Pc_c, Qc_c held by the parent of c). Atom 0
(the source) holds the import (P0, Q0), the source voltage and copies of its children's
flows. All variables form one vector `a`; every entry has an owner atom.

  min  sum_j f_j(a_j)
  s.t. G a = b        local rows (bus balances, voltage drops, source voltage), block
                      diagonal by atom
       B a = 0        consensus: copy - original, each row owned by the atom of the copy
       a_j in H_j     local cones and bounds (SOC, line limit, voltage limits, bids)

This is the same problem as `PrimaryMarket` (model "socp") without the lossless voltage
bound (`linear_upper_voltage`), grid-connected, without PCC bounds or a grid-forming unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from federates.market.clearing import AgentBids
from federates.market.config import PrimaryConfig
from feeders.distflow import BIG_L
from feeders.network import Network

BLOCKS = ("P", "Q", "l", "v", "vp", "s_hi", "s_lo", "dp", "dq", "pg", "Pc", "Qc", "P0",
          "Q0")


@dataclass
class AtomLayout:
    """Positions of the variable blocks in `a`, owners of entries and rows."""

    sl: dict[str, slice]
    owner: np.ndarray  # atom of every entry of a
    G: sp.csr_matrix
    b: np.ndarray
    g_owner: np.ndarray  # atom of every local row
    Sc: sp.csr_matrix  # B = Sc - So: copy entries ...
    So: sp.csr_matrix  # ... and the originals they copy
    b_owner: np.ndarray  # atom of every consensus row (the copy's atom)
    b_neighbour: np.ndarray  # atom of the original
    bal_p_rows: np.ndarray  # rows of G holding the bus P balances (the dLMPs)

    @property
    def B(self) -> sp.csr_matrix:
        return (self.Sc - self.So).tocsr()

    @property
    def size(self) -> int:
        return len(self.owner)


class AtomisedMarket:
    """The atomised primary-market problem for given bids and background (per unit)."""

    def __init__(self, net: Network, agent_bus: np.ndarray, cfg: PrimaryConfig,
                 bids: AgentBids, background_p_kw: np.ndarray,
                 background_q_kvar: np.ndarray, tap: np.ndarray | None = None):
        if cfg.islanded or cfg.grid_forming is not None or cfg.pcc_p_min_kw is not None \
                or cfg.pcc_p_max_kw is not None:
            raise ValueError("primary.solver: pac / nst_pac clear the grid-connected market "
                             "without PCC bounds or a grid-forming unit")
        self.net, self.cfg, self.bids = net, cfg, bids
        self.agent_bus = np.asarray(agent_bus, dtype=int)
        S = net.s_base_kva
        self.pf = np.asarray(background_p_kw, dtype=float) / S
        self.qf = np.asarray(background_q_kvar, dtype=float) / S
        self.tap = np.asarray(net.tap_ratio if tap is None else tap, dtype=float)
        self.layout = self._layout()
        self._weights()

    # ------------------------------------------------------------------ structure
    def _layout(self) -> AtomLayout:
        net, n, m = self.net, self.net.n, self.net.m
        na = len(self.agent_bus)
        sizes = {"P": m, "Q": m, "l": m, "v": n, "vp": m, "s_hi": m, "s_lo": m, "dp": na,
                 "dq": na, "pg": na, "Pc": m, "Qc": m, "P0": 1, "Q0": 1}
        sl, pos = {}, 0
        for k in BLOCKS:
            sl[k] = slice(pos, pos + sizes[k])
            pos += sizes[k]
        N = pos
        br = np.arange(m)
        par = net.from_bus
        owner = np.empty(N, dtype=int)
        for k in ("P", "Q", "l", "vp", "s_hi", "s_lo"):
            owner[sl[k]] = br + 1
        owner[sl["v"]] = np.arange(n)
        for k in ("dp", "dq", "pg"):
            owner[sl[k]] = self.agent_bus
        owner[sl["Pc"]] = par
        owner[sl["Qc"]] = par
        owner[sl["P0"]] = 0
        owner[sl["Q0"]] = 0
        r, x, t2 = net.r_bal_pu, net.x_bal_pu, self.tap ** 2
        z2 = r ** 2 + x ** 2
        rows, cols, vals = [], [], []

        def put(row, col, val):
            row, col = np.atleast_1d(row), np.atleast_1d(col)
            rows.append(row)
            cols.append(col)
            vals.append(np.broadcast_to(np.asarray(val, dtype=float), row.shape))

        st = lambda k: sl[k].start  # noqa: E731
        # rows 0..n-1: P balance of bus j; n..2n-1: Q balance; 2n..2n+m-1: voltage drops;
        # 2n+m: source voltage
        ag = np.arange(na)
        for off, own, child, res in ((0, "dp", "Pc", r), (n, "dq", "Qc", x)):
            put(off + self.agent_bus, st(own) + ag, 1.0)
            if own == "dp":
                put(off + self.agent_bus, st("pg") + ag, -1.0)
            put(off + par, st(child) + br, 1.0)  # children's flows leave the parent bus
            put(off + br + 1, st("l") + br, res)
            put(off + br + 1, st("P" if own == "dp" else "Q") + br, -1.0)
        put(0, st("P0"), -1.0)
        put(n, st("Q0"), -1.0)
        put(n + np.arange(n), st("v") + np.arange(n), -net.shunt_q_pu)  # capacitors
        vr = 2 * n + br
        put(vr, st("v") + br + 1, 1.0)
        put(vr, st("vp") + br, -t2)
        put(vr, st("P") + br, 2 * t2 * r)
        put(vr, st("Q") + br, 2 * t2 * x)
        put(vr, st("l") + br, -t2 * z2)
        put(2 * n + m, st("v"), 1.0)
        R = 2 * n + m + 1
        G = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(R, N))
        A = np.zeros(n)
        np.add.at(A, self.agent_bus, self.bids.p0 / net.s_base_kva)
        Aq = np.zeros(n)
        np.add.at(Aq, self.agent_bus, self.bids.q0 / net.s_base_kva)
        v0 = net.v_source_pu ** 2
        b = np.concatenate([-(self.pf + A), -(self.qf + Aq), np.zeros(m), [v0]])
        g_owner = np.concatenate([np.arange(n), np.arange(n), br + 1, [0]])
        # consensus rows: vp_k = v_par(k) (owner k+1), Pc_k = P_k, Qc_k = Q_k (owner par(k))
        rb = np.arange(3 * m)
        cc = np.concatenate([st("vp") + br, st("Pc") + br, st("Qc") + br])
        co = np.concatenate([st("v") + par, st("P") + br, st("Q") + br])
        Sc = sp.csr_matrix((np.ones(3 * m), (rb, cc)), shape=(3 * m, N))
        So = sp.csr_matrix((np.ones(3 * m), (rb, co)), shape=(3 * m, N))
        b_owner = np.concatenate([br + 1, par, par])
        b_nbr = np.concatenate([par, br + 1, br + 1])
        return AtomLayout(sl=sl, owner=owner, G=G, b=b, g_owner=g_owner, Sc=Sc, So=So,
                          b_owner=b_owner, b_neighbour=b_nbr, bal_p_rows=np.arange(n))

    def _weights(self) -> None:
        cfg, w, S, bids = self.cfg, self.cfg.weights, self.net.s_base_kva, self.bids
        self.sb = np.sqrt(np.maximum(w.disutility * bids.beta, 0.0) * S)
        self.sa = np.sqrt(np.maximum(w.generation * bids.alpha, 0.0) * S / 2)
        self.sv = np.sqrt(w.voltage * cfg.voltage_cost / S)
        self.c_imp = w.generation * cfg.import_price
        self.c_q = w.generation * cfg.import_price_q
        self.c_loss = w.losses * cfg.xi

    # ------------------------------------------------------------------ model pieces
    def objective(self, a: cp.Variable) -> cp.Expression:
        """sum_j f_j(a_j) (the same costs as the central market, per unit)."""
        sl, net = self.layout.sl, self.net
        f = (cp.sum_squares(cp.multiply(self.sb, a[sl["dp"]]))
             + cp.sum_squares(cp.multiply(self.sb, a[sl["dq"]]))
             + cp.sum_squares(cp.multiply(self.sa, a[sl["pg"]]))
             + self.c_imp * a[sl["P0"]][0] + self.c_q * a[sl["Q0"]][0]
             + cp.sum_squares(self.sv * (a[sl["v"]][1:] - 1.0))
             + self.c_loss * (net.r_bal_pu @ a[sl["l"]]))
        if self.cfg.voltage_slack_price > 0:
            f = f + self.cfg.voltage_slack_price * (cp.sum(a[sl["s_hi"]])
                                                    + cp.sum(a[sl["s_lo"]]))
        return f

    def objective_value(self, a: np.ndarray) -> float:
        """sum_j f_j(a_j) at a point `a` (per unit)."""
        sl, net = self.layout.sl, self.net
        f = (np.sum((self.sb * a[sl["dp"]]) ** 2) + np.sum((self.sb * a[sl["dq"]]) ** 2)
             + np.sum((self.sa * a[sl["pg"]]) ** 2) + self.c_imp * a[sl["P0"]][0]
             + self.c_q * a[sl["Q0"]][0] + np.sum((self.sv * (a[sl["v"]][1:] - 1.0)) ** 2)
             + self.c_loss * (net.r_bal_pu @ a[sl["l"]]))
        if self.cfg.voltage_slack_price > 0:
            f += self.cfg.voltage_slack_price * (a[sl["s_hi"]].sum() + a[sl["s_lo"]].sum())
        return float(f)

    def local_sets(self, a: cp.Variable) -> list[cp.Constraint]:
        """H_j of every atom: cones, line limits, voltage limits, bid bounds."""
        sl, net, cfg, bids, S = self.layout.sl, self.net, self.cfg, self.bids, \
            self.net.s_base_kva
        P, Q, l, vp = a[sl["P"]], a[sl["Q"]], a[sl["l"]], a[sl["vp"]]
        v = a[sl["v"]][1:]
        dp, dq, pg = a[sl["dp"]], a[sl["dq"]], a[sl["pg"]]
        s_hi, s_lo = a[sl["s_hi"]], a[sl["s_lo"]]
        imax = np.where(np.isfinite(net.i_max_bal_pu), net.i_max_bal_pu, np.sqrt(BIG_L))
        lmax = np.minimum(imax ** 2, BIG_L) if cfg.line_limits else np.full(net.m, BIG_L)
        soft = cfg.voltage_slack_price > 0
        cons = [cp.SOC(vp + l, cp.vstack([2 * P, 2 * Q, vp - l]), axis=0), l >= 0,
                l <= lmax, s_hi >= 0, s_lo >= 0,
                v <= cfg.v_max_pu ** 2 + (s_hi if soft else 0),
                v >= cfg.v_min_pu ** 2 - (s_lo if soft else 0),
                dp - pg >= np.minimum(bids.p_min - bids.p0, 0.0) / S,
                dp - pg <= np.maximum(bids.p_max - bids.p0, 0.0) / S,
                pg >= 0, pg <= np.maximum(bids.gen_max, 0.0) / S,
                dq >= np.minimum(bids.q_min - bids.q0, 0.0) / S,
                dq <= np.maximum(bids.q_max - bids.q0, 0.0) / S]
        if not soft:
            cons += [s_hi == 0, s_lo == 0]
        return cons

    def solve_central(self, **opts) -> tuple[np.ndarray, float, np.ndarray]:
        """The atomised problem solved as one: (a*, objective*, dLMP* [$/kWh])."""
        lay = self.layout
        a = cp.Variable(lay.size)
        loc = lay.G @ a == lay.b
        prob = cp.Problem(cp.Minimize(self.objective(a)),
                          [loc, lay.B @ a == 0] + self.local_sets(a))
        prob.solve(solver=cp.CLARABEL, **opts)
        if prob.status not in ("optimal", "optimal_inaccurate"):
            raise RuntimeError(f"atomised central solve: {prob.status}")
        return np.asarray(a.value), float(prob.value), np.asarray(loc.dual_value)[
            lay.bal_p_rows]
