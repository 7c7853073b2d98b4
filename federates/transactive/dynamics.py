"""The neurodynamic field H of (18) with errata E1-E5, vectorised over the prosumer agents.

Row i of every array is agent i. Agent i holds its trade dP_i, reactive dQ_i, gamma_i, and
its copies of the multipliers (u_i, lam_i, lamt_i, eta_i) and PI integrators (v_i, mu_i,
mut_i, om_i). Its update reads its own private data and state and the neighbours' messages
(u, v, lam, lamt, mu, mut, eta, om), which enter only through the graph Laplacian L.

``Gains`` gives the accelerated mode: a local primal projection scale kappa_i
(P[x - kappa g] has the same fixed points for every kappa > 0) and block gains on the
multiplier lines (scaling a line of eps dz/dt = H leaves its zeros unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from federates.transactive.case import MarketCase


@dataclass
class State:
    p: np.ndarray
    q: np.ndarray
    gam: np.ndarray
    u: np.ndarray
    v: np.ndarray
    lam: np.ndarray
    lamt: np.ndarray
    mu: np.ndarray
    mut: np.ndarray
    eta: np.ndarray
    om: np.ndarray

    MESSAGES = ("u", "v", "lam", "lamt", "mu", "mut", "eta", "om")

    def copy(self) -> State:
        return State(*(getattr(self, f.name).copy() for f in fields(self)))

    def flat(self) -> np.ndarray:
        return np.concatenate([getattr(self, f.name).ravel() for f in fields(self)])

    def like(self, vec: np.ndarray) -> State:
        """A state of this shape filled from a flat vector."""
        out, k = [], 0
        for f in fields(self):
            a = getattr(self, f.name)
            out.append(vec[k:k + a.size].reshape(a.shape))
            k += a.size
        return State(*out)

    def agent(self, i: int) -> np.ndarray:
        """Everything agent i holds, flattened."""
        return np.concatenate([np.ravel(getattr(self, f.name)[i]) for f in fields(self)])

    def spread(self) -> float:
        """Largest max-min over the agents' copies of any multiplier."""
        vals = [np.ptp(getattr(self, n), axis=0).max(initial=0.0)
                for n in ("u", "lam", "lamt", "eta")]
        return float(max(vals))


@dataclass(frozen=True)
class Gains:
    """Per-agent primal scales and block gains (all ones: the literal dynamics (18))."""

    kappa_p: np.ndarray
    kappa_q: np.ndarray
    price: np.ndarray | float = 1.0
    """Gain of each agent's u and v lines (per agent, or one for all)."""
    rows: np.ndarray | float = 1.0
    primal: float = 1.0
    """Gain of the dP, dQ (and gamma) lines."""


def literal_gains(case: MarketCase) -> Gains:
    return Gains(np.ones(case.m), np.ones(case.m))


def local_gains(case: MarketCase, price: float, rows: float, damping: float = 2.0,
                degree: np.ndarray | None = None) -> Gains:
    """Accelerated gains from each agent's own data (its cost, its Gamma column) and its
    degree.

    kappa_i = min(1, 1/(2 a_i + rows * w_i^2 / damping)) with w_i the agent's largest row
    coefficient (P column for elastic prosumers, chi times the Q column for loads whose dQ
    follows the trade): a Jacobi-type step that keeps the loop between an agent and a
    boosted row damped. Multiplier gains are divided by half the degree (D^-1 L has its
    eigenvalues in [0, 2], so the consensus part stays stable on any graph).
    """

    def col_max(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        both = np.vstack([a, b])
        return np.abs(both).max(axis=0) if both.size else np.zeros(case.m)

    wp = col_max(case.v_gp, case.i_gp)
    wq = col_max(case.v_gq, case.i_gq)
    w = np.where(case.is_ela, wp, 0.0) + np.where(case.q_follows_trade, case.chi * wq, 0.0)
    with np.errstate(divide="ignore"):
        kp = np.minimum(1.0, 1.0 / (2.0 * case.alpha + rows * w**2 / damping))
        kq = np.minimum(1.0, 1.0 / (rows * wq**2 / damping))
    per = 2.0 / np.maximum(degree, 1.0) if degree is not None else np.ones(case.m)
    return Gains(kp, kq, price * per, rows * per)


def zero_state(case: MarketCase, p0: np.ndarray, q0: np.ndarray, u0: float) -> State:
    m, nv, ni = case.m, case.n_v, case.n_i
    return State(p=p0.astype(float).copy(), q=q0.astype(float).copy(), gam=np.zeros(m),
                 u=np.full(m, float(u0)), v=np.zeros(m), lam=np.zeros((m, nv)),
                 lamt=np.zeros((m, nv)), mu=np.zeros((m, nv)), mut=np.zeros((m, nv)),
                 eta=np.zeros((m, ni)), om=np.zeros((m, ni)))


def _own(g: np.ndarray, a: np.ndarray) -> np.ndarray:
    """sum over rows of agent i's Gamma column times its own copies: (m,)."""
    return np.einsum("ri,ir->i", g, a)


def field(case: MarketCase, lap: np.ndarray, z: State, e5_fix: str = "substitute",
          gains: Gains | None = None) -> State:
    """H(z): the right-hand side of eps dz/dt = H(z) (scaled by ``gains``)."""
    g = gains or literal_gains(case)
    m = case.m
    ela, load = case.is_ela, case.is_load
    trade_q = case.q_follows_trade
    dv = z.lam - z.lamt
    tp = _own(case.v_gp, dv) + _own(case.i_gp, z.eta)
    tq = _own(case.v_gq, dv) + _own(case.i_gq, z.eta)
    grad_p = 2.0 * case.alpha * z.p + case.beta - z.u + np.where(ela, tp, 0.0)
    substitute = e5_fix == "substitute"
    if substitute:
        grad_p = grad_p + np.where(trade_q, case.chi * tq, 0.0)
    else:
        grad_p = grad_p - np.where(trade_q, case.chi * z.gam, 0.0)
    hp = np.clip(z.p - g.kappa_p * grad_p, case.p_lo, case.p_hi) - z.p
    # reactive: generators project onto their box; loads follow (9)
    grad_q = tq + np.where(load & ~substitute, z.gam, 0.0)
    hq_gen = np.clip(z.q - g.kappa_q * grad_q, case.q_lo, case.q_hi) - z.q
    q_fixed = case.chi * case.dpd
    if substitute:
        q = np.where(load, np.where(trade_q, case.chi * z.p, q_fixed), z.q)
        hq = np.where(load, np.where(trade_q, case.chi * hp, 0.0), hq_gen)
        hgam = np.zeros(m)
    else:
        q = z.q
        hq = np.where(load, -g.kappa_q * grad_q, hq_gen)
        target = np.where(trade_q, case.chi * (z.p + hp), q_fixed)
        hgam = np.where(load, (z.q + hq) - target, 0.0)
    x = case.x_network(z.p)
    hx = np.where(ela, hp, 0.0)
    dv_i = x[:, None] * case.v_gp.T + q[:, None] * case.v_gq.T
    dv_dot = hx[:, None] * case.v_gp.T + hq[:, None] * case.v_gq.T
    di_i = x[:, None] * case.i_gp.T + q[:, None] * case.i_gq.T
    di_dot = hx[:, None] * case.i_gp.T + hq[:, None] * case.i_gq.T
    lu, lv = lap @ z.u, lap @ z.v
    hu = -lu - lv - z.p - hp
    llam, lmu = lap @ z.lam, lap @ z.mu
    hlam = np.maximum(dv_i - case.v_hi / m + z.lam - lmu - llam, 0.0) - z.lam + dv_dot
    llamt, lmut = lap @ z.lamt, lap @ z.mut
    hlamt = np.maximum(case.v_lo / m - dv_i + z.lamt - lmut - llamt, 0.0) - z.lamt - dv_dot
    leta, lom = lap @ z.eta, lap @ z.om
    heta = np.maximum(di_i - case.i_hi / m + z.eta - lom - leta, 0.0) - z.eta + di_dot
    gp = np.broadcast_to(np.asarray(g.price, float), (m,))
    gr = np.broadcast_to(np.asarray(g.rows, float), (m,))[:, None]
    hq_state = np.where(load, hq, hq_gen) if not substitute else np.where(load, 0.0, hq_gen)
    return State(p=g.primal * hp, q=g.primal * hq_state, gam=g.primal * hgam,
                 u=gp * hu, v=gp * lu, lam=gr * hlam, lamt=gr * hlamt,
                 mu=gr * llam, mut=gr * llamt, eta=gr * heta, om=gr * leta)


def reported_q(case: MarketCase, z: State, e5_fix: str = "substitute") -> np.ndarray:
    """dQ of every prosumer (fix (a) derives the loads' dQ from their trade)."""
    if e5_fix != "substitute":
        return z.q
    return case.q_of(z.p, z.q)


def reported_gamma(case: MarketCase, z: State, e5_fix: str = "substitute") -> np.ndarray:
    """gamma_i: fix (a) reports -(Gamma^QV.(lam - lamt) + Gamma^QI.eta) for loads."""
    if e5_fix != "substitute":
        return z.gam
    dv = z.lam - z.lamt
    tq = _own(case.v_gq, dv) + _own(case.i_gq, z.eta)
    return np.where(case.is_load, -tq, 0.0)


def equilibrium(case: MarketCase, lap: np.ndarray, p: np.ndarray, q: np.ndarray, u: float,
                lam_s: np.ndarray, lamt_s: np.ndarray, eta_s: np.ndarray,
                gamma: np.ndarray) -> State:
    """z* from a central optimum (App. A(ii)): consensus copies, integrators from
    Laplacian solves so that every agent's row of (18e)-(18h) vanishes."""
    m = case.m
    lpinv = np.linalg.pinv(lap)
    x = case.x_network(p)
    qq = case.q_of(p, q)

    def centred(a: np.ndarray) -> np.ndarray:
        return a - a.mean(axis=0, keepdims=True)

    dv_i = x[:, None] * case.v_gp.T + qq[:, None] * case.v_gq.T
    di_i = x[:, None] * case.i_gp.T + qq[:, None] * case.i_gq.T
    return State(p=p.copy(), q=qq.copy(), gam=gamma.copy(), u=np.full(m, u),
                 v=-lpinv @ p, lam=np.tile(lam_s, (m, 1)), lamt=np.tile(lamt_s, (m, 1)),
                 mu=lpinv @ centred(dv_i), mut=-lpinv @ centred(dv_i),
                 eta=np.tile(eta_s, (m, 1)), om=lpinv @ centred(di_i))
