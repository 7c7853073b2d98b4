"""Decomposition of the dLMPs into energy, losses, voltage and congestion.

Superposition on the KKT stationarity system of the primary OPF at its optimum, which is
linear in the multipliers. Lagrangian (balanced branch flow, ``feeders.distflow``):
  f + sum_j lam_j (p_j + sum_ch P_c + r_j l_j - P_j) + (same, mu, Q)
  + sum_j eta_j (v_j - t_j^2 (v_i - 2 (r P_j + x Q_j) + z_j^2 l_j))
  + sum_j kap_j (P_j^2 + Q_j^2 - v_i l_j) + rho_j (l_j - lmax_j) + nu (v bounds).
Stationarity in (P_j, Q_j, l_j) and in v_j of every bus but the reference bus s (whose
voltage is fixed) is linear in (lam, mu, eta, kap) of every bus but s; the known terms
(prices at s, loss costs, voltage terms, line-limit duals) are the sources. LinDistFlow has
no l and no kap: its loss and line-limit terms act on P and Q. The four parts add up to the
dLMP exactly (energy: the price at s; marginal losses bought there count as losses).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from feeders.network import Network


@dataclass
class PriceSources:
    """Known terms of the stationarity system at one optimum."""

    lam_s: float  # P price at the reference bus [$/kWh]
    mu_s: float  # Q price at the reference bus
    c_loss: float  # SOCP: extra loss price per pu of r l
    loss_weight: np.ndarray | None  # LinDistFlow: sr^2, the loss proxy's weight per branch
    sv2: float  # voltage-cost weight per pu^2 (squared voltage)
    nu: np.ndarray  # net voltage-bound duals per non-source bus
    rho: np.ndarray  # line-limit duals per branch


def decompose(net: Network, tap: np.ndarray, slack: int, relaxed: bool, P: np.ndarray,
              Q: np.ndarray, v: np.ndarray, l: np.ndarray, lam: np.ndarray,
              src: PriceSources) -> tuple[dict[str, np.ndarray], float]:
    """Split the dLMPs `lam` (duals of the lossy balances) into their four parts.

    Returns the parts per bus and the largest residual |sum of parts - lam|.
    """
    n, m, par, s = net.n, net.m, net.from_bus, slack
    r, x, t2 = net.r_bal_pu, net.x_bal_pu, tap ** 2
    z2 = r ** 2 + x ** 2
    vpar = v[par]
    lam_s, mu_s = src.lam_s, src.mu_s
    # unknown blocks lam (0), mu (1), eta (2), kap (3) of size m each; lam and mu of bus
    # j != s at pos[j], eta / kap of branch k at k; v-equation of bus j != s at row pos[j]
    pos = np.full(n, -1)
    others = np.array([j for j in range(n) if j != s], dtype=int)
    pos[others] = np.arange(m)
    nb = 4 if relaxed else 3
    N = nb * m
    # the triplets of K, assembled per equation block over all branches / buses at once
    # (K has no duplicate entries, so its CSC form does not depend on their order)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    known = np.zeros(N)  # terms of the reference-bus prices (the "energy" source)

    def add(r_: np.ndarray, c_: np.ndarray, v_: np.ndarray | float) -> None:
        rows.append(r_)
        cols.append(c_)
        vals.append(np.broadcast_to(np.asarray(v_, dtype=float), r_.shape))

    def price(row: np.ndarray, blk: int, bus: np.ndarray, coef: np.ndarray) -> None:
        at_s = bus == s  # rows are distinct within a call
        known[row[at_s]] += coef[at_s] * (lam_s if blk == 0 else mu_s)
        add(row[~at_s], blk * m + pos[bus[~at_s]], coef[~at_s])

    br = np.arange(m)  # branch k ends at bus k + 1, its parent is par[k]
    ones = np.ones(m)
    # eq block 0: dL/dP_k = gP_k + lam_i - lam_j + 2 t2 r eta_k + 2 kap_k P_k = 0
    # eq block 1: dL/dQ_k = gQ_k + mu_i - mu_j + 2 t2 x eta_k + 2 kap_k Q_k = 0
    for blk, (coef_eta, var_kap) in enumerate(((r, P), (x, Q))):
        row = blk * m + br
        price(row, blk, br + 1, -ones)
        price(row, blk, par, ones)
        add(row, 2 * m + br, 2 * t2 * coef_eta)
        if relaxed:
            add(row, 3 * m + br, 2 * var_kap)
    # eq block 2: dL/dv_j = gv_j + eta_j - sum_ch t2_c eta_c - sum_ch kap_c l_c - B_j mu_j
    #   + nu_j = 0, for every bus j != s (bus 0 has no eta, voltage cost or bounds)
    row = 2 * m + pos[others]
    up = others > 0
    add(row[up], 2 * m + others[up] - 1, 1.0)
    cap = net.shunt_q_pu[others] != 0  # capacitor: mu_j * (-B_j v_j) in the Q balance
    add(row[cap], m + pos[others[cap]], -net.shunt_q_pu[others[cap]])
    ch = par != s
    add(2 * m + pos[par[ch]], 2 * m + br[ch], -t2[ch])
    if relaxed:
        add(2 * m + pos[par[ch]], 3 * m + br[ch], -l[ch])
        # eq block 3: dL/dl_k = gl_k + r lam_j + x mu_j - t2 z2 eta_k - kap_k v_i + rho
        row = 3 * m + br
        price(row, 0, br + 1, r)
        price(row, 1, br + 1, x)
        add(row, 2 * m + br, -t2 * z2)
        add(row, 3 * m + br, -vpar)
    rows_, cols_, vals_ = (np.concatenate(a) for a in (rows, cols, vals))
    K = sp.csc_matrix((vals_, (rows_, cols_)), shape=(N, N))
    lu = spla.splu(K)
    vrow = 2 * m + pos[others[others > 0]]
    rho = src.rho

    def source(kind: str) -> np.ndarray:
        b = np.zeros(N)  # K y + b = 0
        if kind == "energy":
            b += known
        elif kind == "losses":
            if relaxed:
                b[3 * m:] += src.c_loss * r
            else:
                rv = src.loss_weight
                b[:m] += 2 * rv * P
                b[m:2 * m] += 2 * rv * Q
        elif kind == "voltage":
            jj = others[others > 0]
            b[vrow] += 2 * src.sv2 * (v[jj] - 1.0) + src.nu[jj - 1]
        elif kind == "congestion":
            if relaxed:
                b[3 * m:] += rho
            else:
                b[:m] += 2 * rho * P
                b[m:2 * m] += 2 * rho * Q
        return lu.solve(-b)

    comps = {}
    for kind in ("energy", "losses", "voltage", "congestion"):
        y = source(kind)
        comp = np.empty(n)
        comp[others] = y[:m]
        comp[s] = lam_s if kind == "energy" else 0.0
        comps[kind] = comp
    # marginal losses bought at the reference bus belong to the loss component
    comps["losses"] = comps["losses"] + (comps["energy"] - lam_s)
    comps["energy"] = np.full(n, lam_s)
    total = sum(comps.values())
    resid = float(np.max(np.abs(total - lam)))
    return comps, resid
