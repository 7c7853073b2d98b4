"""Run the distributed algorithm: discrete (19) or continuous (18) with an ODE solver.

Stopping rule (decision 13): the literal field ||H(z)||_inf < tol_h and every multiplier's
spread over the agents' copies < tol_spread, checked every ``check_every`` iterations, with
an iteration cap. The literal H is the criterion in both modes, so they stop at the same
accuracy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from dataclasses import field as dc_field

import numpy as np
from scipy.integrate import solve_ivp

from federates.transactive.case import MarketCase
from federates.transactive.config import Dynamics
from federates.transactive.dynamics import (
    Gains,
    State,
    field,
    literal_gains,
    local_gains,
    reported_gamma,
    reported_q,
    zero_state,
)


@dataclass
class Run:
    """Outcome of one distributed clearing."""

    state: State
    iterations: int
    converged: bool
    wall_s: float
    h_inf: float
    spread: float
    p: np.ndarray
    q: np.ndarray
    gamma: np.ndarray
    trace: dict[str, list] = dc_field(default_factory=dict)
    row_factor: float = 1.0
    """Current-row multipliers of the case = this factor times the state's eta copies."""

    @property
    def u(self) -> float:
        return float(self.state.u.mean())

    @property
    def lam_s(self) -> np.ndarray:
        return self.state.lam.mean(axis=0)

    @property
    def lamt_s(self) -> np.ndarray:
        return self.state.lamt.mean(axis=0)

    @property
    def eta_s(self) -> np.ndarray:
        return self.row_factor * self.state.eta.mean(axis=0)


def gains_for(case: MarketCase, dyn: Dynamics, lap: np.ndarray | None = None) -> Gains:
    """Literal gains, or the accelerated mode's local ones (degrees from ``lap``)."""
    if dyn.mode == "literal":
        return literal_gains(case)
    degree = np.diag(lap) if lap is not None else None
    g = local_gains(case, dyn.price_gain, dyn.row_gain, dyn.primal_damping, degree)
    if dyn.primal_scale == "unit":
        g = Gains(np.ones(case.m), np.ones(case.m), g.price, g.rows)
    return Gains(g.kappa_p, g.kappa_q, g.price, g.rows, dyn.primal_gain)


def initial_state(case: MarketCase, dyn: Dynamics, rng: np.random.Generator | None = None
                  ) -> State:
    """Random dP in Omega_P and dQ in Omega_Q (midpoints without ``rng``); multipliers 0."""
    if rng is None:
        p0 = 0.5 * (case.p_lo + case.p_hi)
        q0 = 0.5 * (case.q_lo + case.q_hi)
    else:
        p0 = rng.uniform(case.p_lo, case.p_hi)
        q0 = rng.uniform(case.q_lo, case.q_hi)
    q0 = np.where(case.is_load, case.q_of(p0, q0), q0)
    u0 = case.energy_price if dyn.u_init == "energy_price" else 0.0
    return zero_state(case, p0, q0, u0)


def residuals(case: MarketCase, lap: np.ndarray, z: State, e5_fix: str) -> tuple[float, float]:
    h = field(case, lap, z, e5_fix).flat()
    return float(np.abs(h).max(initial=0.0)), z.spread()


def _finish(case, lap, z, it, ok, t0, dyn, trace) -> Run:
    h_inf, spread = residuals(case, lap, z, dyn.e5_fix)
    return Run(state=z, iterations=it, converged=ok, wall_s=time.perf_counter() - t0,
               h_inf=h_inf, spread=spread, p=z.p.copy(), q=reported_q(case, z, dyn.e5_fix),
               gamma=reported_gamma(case, z, dyn.e5_fix), trace=trace)


def run_discrete(case: MarketCase, lap: np.ndarray, dyn: Dynamics, z0: State | None = None,
                 trace_every: int = 0, max_iter: int | None = None) -> Run:
    """Iterate (19): z <- z + s * H(z) until the stopping rule holds or the cap."""
    boost = dyn.row_boost if dyn.mode == "accelerated" else 1.0
    case = case.boosted(boost)
    gains = gains_for(case, dyn, lap)
    z = (z0 or initial_state(case, dyn)).copy()
    cap = max_iter or dyn.max_iter
    trace: dict[str, list] = {"iteration": [], "p": [], "u": [], "eta": []}
    t0 = time.perf_counter()
    it, ok = 0, False
    while it < cap:
        h = field(case, lap, z, dyn.e5_fix, gains)
        zf = z.flat() + dyn.step * h.flat()
        z = z.like(zf)
        it += 1
        if trace_every and it % trace_every == 0:
            trace["iteration"].append(it)
            trace["p"].append(z.p.copy())
            trace["u"].append(z.u.copy())
            trace["eta"].append(z.eta.copy())
        if it % dyn.check_every == 0:
            h_inf, spread = residuals(case, lap, z, dyn.e5_fix)
            if h_inf < dyn.tol_h and spread < dyn.tol_spread:
                ok = True
                break
    run = _finish(case, lap, z, it, ok, t0, dyn, trace)
    run.row_factor = boost
    return run


def run_continuous(case: MarketCase, lap: np.ndarray, dyn: Dynamics, z0: State | None = None,
                   horizon: float = 1e4, method: str = "LSODA", n_eval: int = 200) -> Run:
    """Integrate eps dz/dt = H(z) in units of eps (tau = t/eps) up to ``horizon``.

    Stops early (terminal event) once ||H||_inf < tol_h. ``iterations`` holds the number of
    field evaluations; ``trace['t_s']`` the physical time t = eps * tau.
    """
    boost = dyn.row_boost if dyn.mode == "accelerated" else 1.0
    case = case.boosted(boost)
    gains = gains_for(case, dyn, lap)
    z = (z0 or initial_state(case, dyn)).copy()
    template = z.copy()
    calls = [0]

    def rhs(_t, y):
        calls[0] += 1
        return field(case, lap, template.like(y), dyn.e5_fix, gains).flat()

    def settled(_t, y):
        zz = template.like(y)
        h_inf, spread = residuals(case, lap, zz, dyn.e5_fix)
        return max(h_inf / dyn.tol_h, spread / dyn.tol_spread) - 0.5

    settled.terminal = True
    t0 = time.perf_counter()
    sol = solve_ivp(rhs, (0.0, horizon), z.flat(), method=method, rtol=1e-10, atol=1e-12,
                    events=settled, t_eval=np.linspace(0.0, horizon, n_eval),
                    dense_output=False)
    y_end = sol.y_events[0][0] if sol.t_events[0].size else sol.y[:, -1]
    zf = template.like(np.asarray(y_end, float).copy())
    zf.p = np.clip(zf.p, case.p_lo, case.p_hi)
    trace = {"t_s": list(sol.t * dyn.epsilon_s),
             "p": [template.like(sol.y[:, k]).p.copy() for k in range(sol.y.shape[1])]}
    h_inf, spread = residuals(case, lap, zf, dyn.e5_fix)
    ok = h_inf < dyn.tol_h and spread < dyn.tol_spread
    run = _finish(case, lap, zf, calls[0], ok, t0, dyn, trace)
    run.row_factor = boost
    run.trace["tau_end"] = [float(sol.t_events[0][0]) if sol.t_events[0].size else horizon]
    return run
