"""Consumer market: a Stackelberg game between a consumer market operator and its houses.

The consumer market operator (CMO, the leader; one SMA of the secondary market) must deliver
its cleared setpoint P~ [kW, injection convention: generation - load] at the secondary
market price pi [$/kWh]. It posts two prices; each consumer market agent (CMA, a house,
follower) then moves its net injection P_i up from its stage I baseline P_i0 inside its
flexibility band [P_i0, Pbar_i]:

  Stage II (CMA i):  max U_i = mu~ (P_i - P_i0) + mu P_i - gamma_i (P_i - P_i0)^2
                     s.t. P_i0 <= P_i <= Pbar_i
  best response      P_i* = min(Pbar_i, P_i0 + (mu~ + mu) / (2 gamma_i))   (mu~ + mu >= 0)
  Stage III (CMO):   min (sum P_i - P~)^2
                     s.t. mu~ sum (P_i - P_i0) + mu sum P_i = pi sum P_i   (budget balance)

With s = mu + mu~ and gamma_t = sum 1/gamma_i, when no CMA saturates (closed form):
  mu*  = pi P~ / P_t0 - 2 (P~ - P_t0)^2 / (gamma_t P_t0)
  mu~* = P~ (2 (P~ - P_t0) - pi gamma_t) / (gamma_t P_t0).
When some saturate, s solves sum min(Pbar_i, P_i0 + s / (2 gamma_i)) = P~ (water-filling;
solved exactly on the sorted saturation breakpoints of this piecewise-linear sum rather than
by bisection) and mu = (pi P~ - s (P~ - P_t0)) / P_t0, which equals the closed form when no
CMA saturates. A target outside [P_t0, sum Pbar] is met as closely as the bands allow and
the shortfall (P~ - achieved) is reported. Prices positive: see `prices_positive`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ConsumerClearing:
    """One consumer-market clearing (kW, $/kWh)."""

    mu: float  # price on the CMA's total injection
    mu_dev: float  # mu~: price on the deviation from the baseline
    p_kw: np.ndarray  # best responses P_i*
    p_target_kw: float  # P~
    shortfall_kw: float  # P~ - sum P_i* (0 when the target is met)
    saturated: np.ndarray  # CMAs at their upper band Pbar_i
    budget_residual: float  # mu~ sum(P - P0) + mu sum P - pi sum P [$/h]
    closed_form: bool  # True when no CMA saturated (the closed form applies)

    @property
    def tracking_error_kw(self) -> float:
        return abs(self.shortfall_kw)


def best_response(mu: float, mu_dev: float, p0: np.ndarray, p_max: np.ndarray,
                  gamma: np.ndarray) -> np.ndarray:
    """Each CMA's utility-maximising injection for the posted prices (Stage II)."""
    p0 = np.asarray(p0, dtype=float)
    s = max(mu + mu_dev, 0.0)
    return np.minimum(np.maximum(np.asarray(p_max, dtype=float), p0),
                      p0 + s / (2.0 * np.asarray(gamma, dtype=float)))


def utility(p: np.ndarray, mu: float, mu_dev: float, p0: np.ndarray,
            gamma: np.ndarray) -> np.ndarray:
    """Stage II utility U_i of each CMA at injections `p` [$/h]."""
    p = np.asarray(p, dtype=float)
    return mu_dev * (p - p0) + mu * p - gamma * (p - p0) ** 2


def cmo_utility(p: np.ndarray, p_target: float) -> float:
    """Leader's utility -(sum P - P~)^2 (0 at a met target)."""
    return -float((np.sum(p) - p_target) ** 2)


def closed_form(p0_total: float, gamma_t: float, p_target: float,
                pi: float) -> tuple[float, float]:
    """(mu*, mu~*) of the Stackelberg equilibrium when no CMA saturates."""
    d = p_target - p0_total
    mu = pi * p_target / p0_total - 2.0 * d ** 2 / (gamma_t * p0_total)
    mu_dev = p_target * (2.0 * d - pi * gamma_t) / (gamma_t * p0_total)
    return mu, mu_dev


def prices_positive(p0_total: float, gamma_t: float, p_target: float, pi: float) -> bool:
    """The seed's conditions under which both equilibrium prices are > 0 (pi > 0).

    Net load (P_t0, P~ < 0): P~ > P_t0 + pi gamma_t / 2. Net generation (P_t0, P~ > 0):
    max(a1, P_t0 + pi gamma_t / 2) < P~ < a2 with
    a1,2 = P_t0 + pi gamma_t / 4 -/+ 1/2 sqrt((pi gamma_t / 2)(4 P_t0 + pi gamma_t / 2)).
    """
    half = pi * gamma_t / 2.0
    if p0_total < 0 and p_target < 0:
        return p_target > p0_total + half
    if p0_total > 0 and p_target > 0:
        root = 0.5 * np.sqrt(half * (4.0 * p0_total + half))
        a1 = p0_total + pi * gamma_t / 4.0 - root
        a2 = p0_total + pi * gamma_t / 4.0 + root
        return max(a1, p0_total + half) < p_target < a2
    raise ValueError("the seed's conditions cover P_t0 and P~ of the same sign")


def water_fill(p0: np.ndarray, p_max: np.ndarray, gamma: np.ndarray,
               p_target: float) -> float:
    """Smallest s >= 0 with sum min(Pbar_i, P_i0 + s / (2 gamma_i)) = P~ (clipped to the
    range the bands allow), exact on the piecewise-linear sum."""
    p0 = np.asarray(p0, dtype=float)
    room = np.maximum(np.asarray(p_max, dtype=float) - p0, 0.0)
    g = np.asarray(gamma, dtype=float)
    need = p_target - p0.sum()
    if need <= 0:
        return 0.0
    brk = 2.0 * g * room  # s at which CMA i saturates
    order = np.argsort(brk, kind="stable")
    filled, slope, s_prev = 0.0, float(np.sum(1.0 / (2.0 * g))), 0.0
    for i in order:
        reach = filled + slope * (brk[i] - s_prev)  # delivered when CMA i saturates
        if reach >= need:
            return s_prev + (need - filled) / slope
        filled, s_prev = reach, brk[i]
        slope -= 1.0 / (2.0 * g[i])
    return s_prev  # every CMA saturated: the target exceeds the bands


def clear(p0: np.ndarray, p_max: np.ndarray, gamma: np.ndarray, p_target: float,
          pi: float) -> ConsumerClearing:
    """Stackelberg equilibrium prices and the CMAs' responses for one period."""
    p0 = np.asarray(p0, dtype=float)
    p_max = np.maximum(np.asarray(p_max, dtype=float), p0)
    gamma = np.asarray(gamma, dtype=float)
    if np.any(gamma <= 0):
        raise ValueError("gamma: every CMA needs a positive disutility coefficient")
    p0_total = float(p0.sum())
    if p0_total == 0:
        raise ValueError("the CMAs' baselines sum to 0: the budget cannot fix mu")
    s = water_fill(p0, p_max, gamma, p_target)
    p = best_response(s, 0.0, p0, p_max, gamma)
    total = float(p.sum())
    saturated = p >= p_max - 1e-12 * np.maximum(1.0, np.abs(p_max))
    saturated &= p_max > p0
    free = not np.any(saturated) and p_target >= p0_total
    if free:
        mu, mu_dev = closed_form(p0_total, float(np.sum(1.0 / gamma)), p_target, pi)
    else:  # budget with the delivered total
        mu = (pi * total - s * (total - p0_total)) / p0_total
        mu_dev = s - mu
    budget = mu_dev * (total - p0_total) + mu * total - pi * total
    return ConsumerClearing(mu=float(mu), mu_dev=float(mu_dev), p_kw=p,
                            p_target_kw=float(p_target), shortfall_kw=float(p_target - total),
                            saturated=saturated, budget_residual=float(budget),
                            closed_form=bool(free))
