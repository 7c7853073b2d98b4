"""B3 baseline: a BALANCED single-phase-equivalent LinDistFlow envelope (cvxpy + Clarabel).

This is not the seed's multiphase LinDist3Flow: until the project's three-phase model is
available, every branch is treated as balanced. Per branch k (3-phase totals, per unit of
the feeder's ``s_base_kva``): ``P_k = sum of net loads downstream`` (29a), likewise Q (29b),
``v_to = tap^2 v_from - 2 (3/n_k)(r_k P_k + x_k Q_k)`` (29c) with positive-sequence r, x and
``n_k`` phases (a 1-phase lateral carries its power on one conductor). Loss proxy (30)
``sum (3/n_k) r_k (P_k^2 + Q_k^2)``; thermal limit (31) ``|(P_k, Q_k)| <= S_k`` with
``S_k = n_k V_min V_LN I_max``; reverse flow ``P_k >= -P_rev`` on the monitored lines; the
same objective (2) with linear penalties. Built once with parameters; each interval only
sets them.
"""

from __future__ import annotations

import time

import cvxpy as cp
import numpy as np

import feeders
from federates.doe.case import Case, Limits, Weights
from federates.doe.embed import Solution, Study


class LinDistFlowEnvelope:
    """B3 for one study, on the balanced approximation of ``case``'s feeder."""

    def __init__(self, case: Case, load_bus: list[str], weights: Weights, study: Study,
                 taps: dict[str, int] | None = None) -> None:
        """``taps``: the locked regulator taps (steps) of the OpenDSS model; default the
        feeder's published taps."""
        feeder = feeders.load(case.feeder)
        net = feeder.network
        idx = {b.lower(): i for i, b in enumerate(net.buses)}
        nb, nk = net.n_buses, net.n_branches
        sb = net.s_base_kva
        self.sb = sb
        self.load_map = np.zeros((nb, len(load_bus)))
        for j, b in enumerate(load_bus):
            self.load_map[idx[b.lower()], j] = 1.0
        der_map = np.zeros((nb, case.n_der))
        for j, d in enumerate(case.ders):
            der_map[idx[d.bus.lower()], j] = 1.0
        down = np.zeros((nk, nb))  # branch k carries the net load of every bus below it
        for k in range(nk):
            down[k, net.downstream_buses(int(net.to_bus[k]))] = 1.0
        nph = np.array([len(p) for p in net.branch_phases], float)
        scale = 3.0 / nph
        r, x = net.r_pu() * scale, net.x_pu() * scale
        self.nph, self.v_ln_kv = nph, net.base_kv_ln[net.to_bus]
        lines = np.array([kind == "line" for kind in net.branch_kind])
        names = [n.lower() for n in net.branch_names]
        mon = [names.index(n.lower()) for n in case.monitored_lines]

        self.p_bus = cp.Parameter(nb)  # load kW per bus (pu of sb below)
        self.q_bus = cp.Parameter(nb)
        self.q_der = cp.Parameter(nb)
        self.p_lo = cp.Parameter(case.n_der)
        self.p_hi = cp.Parameter(case.n_der)
        self.v_lo2, self.v_hi2 = cp.Parameter(nonneg=True), cp.Parameter(nonneg=True)
        self.s_max = cp.Parameter(int(lines.sum()), nonneg=True)
        self.p_rev = cp.Parameter(nonneg=True)
        self.p = cp.Variable(case.n_der)
        pn = (self.p_bus - der_map @ self.p) / sb
        qn = (self.q_bus - self.q_der) / sb
        flow_p, flow_q = down @ pn, down @ qn
        tap2 = _tap_ratios(net, feeder, taps) ** 2
        v = cp.Variable(nb)
        cons = [v[0] == net.v_source_pu**2, self.p_lo <= self.p, self.p <= self.p_hi,
                v[net.to_bus] == cp.multiply(tap2, v[net.from_bus])
                - 2 * (cp.multiply(r, flow_p) + cp.multiply(x, flow_q))]
        sv_hi, sv_lo = cp.Variable(nb - 1, nonneg=True), cp.Variable(nb - 1, nonneg=True)
        cons += [v[1:] <= self.v_hi2 + sv_hi, v[1:] >= self.v_lo2 - sv_lo]
        li = np.flatnonzero(lines)
        s_i = cp.Variable(len(li), nonneg=True)  # overload, in apparent power (pu)
        cons += [cp.norm(cp.vstack([flow_p[li], flow_q[li]]), 2, axis=0)
                 <= self.s_max + s_i]
        s_p = cp.Variable(len(mon), nonneg=True)
        cons += [flow_p[mon] >= -self.p_rev - s_p]
        # penalties in the ICNN's units: per node pu (dv ~ dv^2/2), per phase A, kW
        bus_nph = np.array([max(len(p), 1) for p in net.bus_phases], float)[1:]
        amp_per_pu = sb / (self.nph[li] * self.v_ln_kv[li])
        dev = (cp.sum(self.p_hi - self.p) if study == "upper" else cp.sum(self.p - self.p_lo))
        loss = sb * cp.sum(cp.multiply(r, cp.square(flow_p) + cp.square(flow_q)))
        obj = (weights.alpha * dev + weights.beta * loss
               + weights.gamma_v * (bus_nph / 2) @ (sv_hi + sv_lo)
               + weights.gamma_i * (self.nph[li] * amp_per_pu) @ s_i
               + weights.gamma_p * sb * cp.sum(s_p))
        self.problem = cp.Problem(cp.Minimize(obj), cons)
        self.lines, self.mon = li, mon
        self.case = case
        self._q_der = der_map @ np.array([d.q_kvar for d in case.ders])

    def solve(self, p_load: np.ndarray, q_load: np.ndarray, p_lo: np.ndarray,
              p_hi: np.ndarray, limits: Limits) -> Solution:
        """Envelope for one interval (load kW/kvar per OpenDSS load object)."""
        self.p_bus.value = self.load_map @ np.asarray(p_load, float)
        self.q_bus.value = self.load_map @ np.asarray(q_load, float)
        self.q_der.value = self._q_der
        self.p_lo.value, self.p_hi.value = np.asarray(p_lo, float), np.asarray(p_hi, float)
        vmin, vmax = limits.v_band
        self.v_lo2.value, self.v_hi2.value = vmin**2, vmax**2
        imax = limits.i_max_a * (1.0 - limits.margin)
        self.s_max.value = (self.nph[self.lines] * vmin * self.v_ln_kv[self.lines] * imax
                            / self.sb)
        self.p_rev.value = limits.p_rev_kw * (1.0 - limits.margin) / self.sb
        t0 = time.perf_counter()
        self.problem.solve(solver=cp.CLARABEL)
        wall = time.perf_counter() - t0
        stats = self.problem.solver_stats
        solve_s = stats.solve_time if stats and stats.solve_time is not None else wall
        if self.problem.status not in ("optimal", "optimal_inaccurate"):
            return Solution(np.full(self.case.n_der, np.nan), np.nan, self.problem.status,
                            solve_s, {})
        return Solution(np.asarray(self.p.value, float), float(self.problem.value),
                        self.problem.status, solve_s, {})


def _tap_ratios(net, feeder, taps: dict[str, int] | None) -> np.ndarray:
    """Per-branch voltage ratio: mean over a regulator bank's phases of 1 + step * tap."""
    if taps is None:
        return np.asarray(net.tap_ratio, float)
    low = {k.lower(): v for k, v in taps.items()}
    out = np.asarray(net.tap_ratio, float).copy()
    for k, kind in enumerate(net.branch_kind):
        if kind == "regulator":
            names = [e.split(".", 1)[1].lower() for e in net.branch_elements[k]]
            out[k] = float(np.mean([1.0 + feeder.tap_step * low.get(n, 0) for n in names]))
    return out
