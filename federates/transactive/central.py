"""Centralised reference clearing of (12)-(13) s.t. (6)-(10) with cvxpy + Clarabel.

Returns the trades and the multipliers in the paper's sign convention,
L = f - u*sum(dP) + lam.(dV - dV^+) + lamt.(dV^- - dV) + eta.(dI - dI^+) + gamma.(dQ - chi dP),
and the prices: DLMPA p_j of (11) and each prosumer's effective price (E4).
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from federates.transactive.case import MarketCase

CLARABEL_TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12,
                  "tol_ktratio": 1e-10, "max_iter": 500}


@dataclass(frozen=True)
class Clearing:
    """A market clearing: trades, multipliers (scaled rows and true units) and prices."""

    p: np.ndarray
    q: np.ndarray
    u: float
    lam_s: np.ndarray
    """Voltage-upper multipliers of the scaled rows (lam_true = lam_s / v_scale)."""
    lamt_s: np.ndarray
    eta_s: np.ndarray
    gamma: np.ndarray
    objective: float
    """Value of (12): sum alpha dP^2 + beta dP [$]; (1) is its negative."""

    @property
    def welfare(self) -> float:
        return -self.objective


def network_price_terms(case: MarketCase, lam_s: np.ndarray, lamt_s: np.ndarray,
                        eta_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per prosumer: sum_r Gamma^P_ri mu_r and sum_r Gamma^Q_ri mu_r over all rows [$/MWh]."""
    dv = lam_s - lamt_s
    tp = case.v_gp.T @ dv + case.i_gp.T @ eta_s
    tq = case.v_gq.T @ dv + case.i_gq.T @ eta_s
    return tp, tq


def dlmpa(case: MarketCase, c: Clearing) -> np.ndarray:
    """DLMPA (11) at each prosumer's bus: u - Gamma^PV.(lam - lamt) - Gamma^PI.eta."""
    tp, _ = network_price_terms(case, c.lam_s, c.lamt_s, c.eta_s)
    return c.u - tp


def effective_price(case: MarketCase, c: Clearing) -> np.ndarray:
    """The price each prosumer optimises against (spec table; E4 adds chi*gamma)."""
    p = np.where(case.is_ela, dlmpa(case, c), c.u)
    return p + np.where(case.is_load, case.chi * c.gamma, 0.0)


def load_gamma(case: MarketCase, lam_s: np.ndarray, lamt_s: np.ndarray,
               eta_s: np.ndarray) -> np.ndarray:
    """gamma_i of (9) from the dQ stationarity: -(Gamma^QV.(lam - lamt) + Gamma^QI.eta)."""
    _, tq = network_price_terms(case, lam_s, lamt_s, eta_s)
    return np.where(case.is_load, -tq, 0.0)


def solve_central(case: MarketCase, extra_demand: np.ndarray | None = None,
                  tight: bool = True) -> Clearing:
    """Solve the clearing; ``extra_demand`` (MWh per prosumer bus) is for marginal checks.

    Extra demand d_i at prosumer i's bus raises the balance to sum dP = sum d and lowers the
    injection seen by the network rows at that bus by d_i.
    """
    m = case.m
    d = np.zeros(m) if extra_demand is None else np.asarray(extra_demand, float)
    p = cp.Variable(m)
    q = cp.Variable(m)
    ela = np.diag(case.is_ela.astype(float))
    x = ela @ p + case.dpd - d
    obj = cp.sum(cp.multiply(case.alpha, cp.square(p))) + case.beta @ p
    balance = cp.sum(p) == float(d.sum())
    cons = [balance, p >= case.p_lo, p <= case.p_hi]
    gens = np.flatnonzero(~case.is_load)
    loads = np.flatnonzero(case.is_load)
    if len(gens):
        cons += [q[gens] >= case.q_lo[gens], q[gens] <= case.q_hi[gens]]
    coupling = None
    if len(loads):
        trade = case.q_follows_trade[loads]
        target = cp.multiply(case.chi[loads] * trade, p[loads]) + \
            case.chi[loads] * (~trade) * case.dpd[loads]
        coupling = q[loads] - target == 0
        cons.append(coupling)
    v_up = v_dn = i_up = None
    if case.n_v:
        dv = case.v_gp @ x + case.v_gq @ q
        v_up, v_dn = dv <= case.v_hi, case.v_lo - dv <= 0
        cons += [v_up, v_dn]
    if case.n_i:
        i_up = case.i_gp @ x + case.i_gq @ q <= case.i_hi
        cons.append(i_up)
    prob = cp.Problem(cp.Minimize(obj), cons)
    prob.solve(solver=cp.CLARABEL, **(CLARABEL_TIGHT if tight else {}))
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"central clearing failed: {prob.status}")
    lam = np.asarray(v_up.dual_value).ravel() if v_up is not None else np.zeros(0)
    lamt = np.asarray(v_dn.dual_value).ravel() if v_dn is not None else np.zeros(0)
    eta = np.asarray(i_up.dual_value).ravel() if i_up is not None else np.zeros(0)
    gamma = np.zeros(m)
    if coupling is not None:
        gamma[loads] = np.asarray(coupling.dual_value).ravel()
    return Clearing(p=np.asarray(p.value).ravel(), q=np.asarray(q.value).ravel(),
                    u=-float(balance.dual_value), lam_s=lam, lamt_s=lamt, eta_s=eta,
                    gamma=gamma, objective=float(prob.value))
