"""Stages 2-4 of the secondary markets written directly in Clarabel's conic form.

Same problems as the cvxpy models in `secondary.py` (which the tests compare against),
without the modelling layer: the matrices are assembled with numpy at every clearing
(~1 ms), so nothing is compiled, every SMO's reliability bound is a second-order cone of
exactly its own size, and the per-solve overhead of cvxpy (~10 ms here) disappears.

Clarabel solves  min 1/2 x'Px + q'x  s.t.  Ax + s = b,  s in K.  Variables (scaled kW):
x = [d_0 .. d_{nd-1}, f_0 .. f_{nd-1}], nd = 1 (P only) or 2 (P and Q), each of length
n_agents: deviation d from the bid baseline and symmetric flexibility band f.
Rows, in cone order:
  zero:     G d_k = tot_k                                    (SMO balance, per SMO)
  nonneg:   -d + f <= -lo,  d + f <= hi,  -f <= 0           (band inside the bid range)
            sum_j mu_j d_j <= b2_i            (stage 2 bound, stages 3-4 only)
            -sum_j f_j <= b3_i                (stage 3 bound, stage 4 only)
  SOC:      (rb1_i, sw1_j d_kj for j in SMO i)               (stage 1 bound, per SMO)
Objectives: stage 2 (cost) q = mu; stage 3 (flexibility) q = -1 on f; stage 4
(disutility) P = 2 diag(sbeta^2) on d.
"""

from __future__ import annotations

import clarabel
import numpy as np
import scipy.sparse as sp

STATUS = {clarabel.SolverStatus.Solved: "optimal",
          clarabel.SolverStatus.AlmostSolved: "optimal_inaccurate"}


class ClarabelStages:
    """Conic form of stages 2-4 for a fixed agent layout (`smo[j]` = SMO of agent j)."""

    def __init__(self, smo: np.ndarray, n_smo: int, reactive: bool):
        self.smo = np.asarray(smo, dtype=int)
        self.ns, self.na = n_smo, len(self.smo)
        self.nd = 2 if reactive else 1
        self.nx = 2 * self.nd * self.na
        order = np.argsort(self.smo, kind="stable")  # agents grouped by SMO
        counts = np.bincount(self.smo, minlength=n_smo)
        self.cone_smos = np.flatnonzero(counts > 0)
        # SOC rows: per SMO with agents, one row for the bound then nd rows per agent
        dims = 1 + self.nd * counts[self.cone_smos]
        self.cone_dims = dims.tolist()
        start = np.concatenate([[0], np.cumsum(dims)[:-1]])
        self.bound_row = start
        agent_row = np.empty((self.nd, self.na), dtype=int)
        pos_in_smo = np.empty(self.na, dtype=int)
        first = np.concatenate([[0], np.cumsum(counts)])
        pos_in_smo[order] = np.arange(self.na) - first[self.smo[order]]
        cone_of_smo = np.full(n_smo, -1)
        cone_of_smo[self.cone_smos] = np.arange(self.cone_smos.size)
        n_agents = counts[self.smo]
        for k in range(self.nd):
            agent_row[k] = (start[cone_of_smo[self.smo]] + 1 + k * n_agents + pos_in_smo)
        self.agent_row = agent_row
        self.n_soc = int(dims.sum())

    def _d(self, k: int) -> np.ndarray:
        return k * self.na + np.arange(self.na)

    def _f(self, k: int) -> np.ndarray:
        return (self.nd + k) * self.na + np.arange(self.na)

    def solve(self, stage: int, v: dict[str, np.ndarray]) -> tuple[str, np.ndarray]:
        """Solve stage 2, 3 or 4 (`stage` = 1, 2, 3 as in STAGES) with the values `v`
        (lo, hi, qlo, qhi, dtot, qtot, mu, muq, sw1, sbeta, rb1, b2, b3). Returns (status,
        x); x is NaN unless the status is optimal or optimal_inaccurate."""
        na, ns, nd = self.na, self.ns, self.nd
        lows, highs = [v["lo"], v["qlo"]][:nd], [v["hi"], v["qhi"]][:nd]
        tots = [v["dtot"], v["qtot"]][:nd]
        rows, cols, vals, rhs = [], [], [], []
        row = 0

        def add(r: np.ndarray, c: np.ndarray, x: np.ndarray) -> None:
            rows.append(r)
            cols.append(c)
            vals.append(np.broadcast_to(x, r.shape).astype(float))

        # zero cone: SMO balances
        for k in range(nd):
            add(row + self.smo, self._d(k), 1.0)
            rhs.append(tots[k])
            row += ns
        n_zero = row
        # nonnegative cone: band inside the range, f >= 0
        agents = np.arange(na)
        for k in range(nd):
            add(row + agents, self._d(k), -1.0)
            add(row + agents, self._f(k), 1.0)
            rhs.append(-lows[k])
            row += na
            add(row + agents, self._d(k), 1.0)
            add(row + agents, self._f(k), 1.0)
            rhs.append(highs[k])
            row += na
            add(row + agents, self._f(k), -1.0)
            rhs.append(np.zeros(na))
            row += na
        if stage >= 2:  # net cost kept within its bound
            for k, price in enumerate([v["mu"], v["muq"]][:nd]):
                add(row + self.smo, self._d(k), price)
            rhs.append(v["b2"])
            row += ns
        if stage >= 3:  # flexibility kept within its bound
            for k in range(nd):
                add(row + self.smo, self._f(k), -1.0)
            rhs.append(v["b3"])
            row += ns
        n_nonneg = row - n_zero
        # second-order cones: reliability kept within its bound, one cone per SMO
        soc_rhs = np.zeros(self.n_soc)
        soc_rhs[self.bound_row] = v["rb1"][self.cone_smos]
        for k in range(nd):
            add(row + self.agent_row[k], self._d(k), -v["sw1"])
        rhs.append(soc_rhs)
        row += self.n_soc
        A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(row, self.nx))
        b = np.concatenate(rhs)
        q = np.zeros(self.nx)
        P = sp.csc_matrix((self.nx, self.nx))
        if stage == 1:
            for k, price in enumerate([v["mu"], v["muq"]][:nd]):
                q[self._d(k)] = price
        elif stage == 2:
            q[self.nd * na:] = -1.0
        else:
            diag = np.zeros(self.nx)
            diag[:nd * na] = np.tile(2.0 * v["sbeta"] ** 2, nd)
            P = sp.diags(diag, format="csc")
        cones = [clarabel.ZeroConeT(n_zero), clarabel.NonnegativeConeT(n_nonneg)]
        cones += [clarabel.SecondOrderConeT(d) for d in self.cone_dims]
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        solution = clarabel.DefaultSolver(P, q, A, b, cones, settings).solve()
        status = STATUS.get(solution.status, str(solution.status).lower())
        if status not in ("optimal", "optimal_inaccurate"):
            return status, np.full(self.nx, np.nan)
        return status, np.asarray(solution.x)

    def split(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """x -> {"dp", "fp"[, "dq", "fq"]}."""
        out = {"dp": x[self._d(0)], "fp": x[self._f(0)]}
        if self.nd == 2:
            out.update(dq=x[self._d(1)], fq=x[self._f(1)])
        return out
