"""Secondary markets: each SMO allocates its cleared setpoint among its agents (houses).

All SMOs of a period are solved together, vectorised over agents: the SMOs' problems are
separable and every stage bound is kept *per SMO*, so one joint solve per stage equals
solving every SMO on its own. The hierarchical objectives of the seed, per SMO i, in
priority order (lexicographic, with tolerance epsilon):

  1. reliability: the seed's f1 = -RS_j * |dS_j|^2 (maximise deviations of resilient agents)
     is concave; we minimise the convex surrogate sum_j |dS_j|^2 / RS_j, whose optimum
     allocates the deviation from the baseline in proportion to RS_j (more flexibility is
     taken from agents with higher resilience scores, which is the seed's intent);
  2. net cost to the SMO: sum_j mu_j^P P_j + mu_j^Q Q_j (mu = local prices; with one price
     for the whole SMO this is fixed by the balance, with agent-specific prices it is not);
  3. flexibility: maximise sum_j dP_j^flex + dQ_j^flex, the symmetric band each agent keeps
     around its setpoint within its limits (the SMO's next primary bid range);
  4. disutility: sum_j beta_j ((P_j - P0_j)^2 + (Q_j - Q0_j)^2).
Stage k minimises F_k subject to F_l <= F_l* + epsilon |F_l*| + abs_tol for l < k, and to
the lossless SMO balance sum_j P_j = P_i*, sum_j Q_j = Q_i*, and the agents' limits. Stage 1
is solved in closed form (vectorised water-filling, `_waterfill`: its optimum only needs the
bound of the later stages). Stage 2 needs no solve when every SMO has one price (its cost is
then fixed by the balance). Stages 3-4 (and 2 otherwise) are assembled directly in Clarabel's
conic form (`stage_qp.py`, one cone of its own size per SMO, nothing to compile: ~35 ms per
stage for 1,008 agents in 85 SMOs). With `backend="closed"`, stages 3-4 are solved without a
solver when every SMO has one price and Q is fixed (`stage_closed.py`: each agent's optimum
for given multipliers is a clipped median, the balance multiplier is solved exactly and the
one binding bound's multiplier by a 1-D search; SMOs where both stage-4 bounds bind, or a
check fails, go to Clarabel on their own): ~25 ms instead of ~80 ms per clearing. The bands
it reports at the final point are the widest the setpoints allow (the solvers return any
band meeting the stage-3 bound). The same stages as cvxpy problems built once with
Parameters (DPP) are kept as `backend="cvxpy"`, the reference the tests compare against.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from itertools import chain

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from federates.market.config import SecondaryConfig
from federates.market.stage_closed import ClosedStages
from federates.market.stage_qp import ClarabelStages

RS_FLOOR = 0.05
STAGES = ("reliability", "cost", "flexibility", "disutility")


@dataclass
class SecondaryBids:
    """Agents of all SMOs, vectorised (kW, kvar, load convention); `smo[k]` indexes SMOs."""

    smo: np.ndarray
    p0: np.ndarray
    p_min: np.ndarray
    p_max: np.ndarray
    q0: np.ndarray
    q_min: np.ndarray
    q_max: np.ndarray
    beta: np.ndarray
    resilience: np.ndarray

    def __len__(self) -> int:
        return len(self.p0)


@dataclass
class SecondaryResult:
    status: str
    p_kw: np.ndarray  # agent setpoints
    q_kvar: np.ndarray
    flex_p_kw: np.ndarray  # symmetric flexibility band kept around the setpoint
    flex_q_kvar: np.ndarray
    tariff: np.ndarray  # local tariff per agent [$/kWh]
    smo_p_kw: np.ndarray  # achieved SMO totals (= targets when feasible)
    smo_q_kvar: np.ndarray
    stage_values: np.ndarray  # (4, n_smo) optimum of each stage, per SMO
    final_values: np.ndarray  # (4, n_smo) value of each stage objective at the final point
    shortfall_kw: np.ndarray  # |target - achievable| per SMO when the target was infeasible
    solve_time_s: float


class SecondaryMarkets:
    """Lexicographic secondary markets of `n_smo` SMOs with a fixed agent layout."""

    def __init__(self, smo_of_agent: np.ndarray, n_smo: int,
                 config: SecondaryConfig | None = None, reactive: bool = False):
        """`reactive=False` keeps every agent's Q at its bid Q0 (half the problem size)."""
        self.cfg = config or SecondaryConfig()
        self.reactive = reactive
        self.smo = np.asarray(smo_of_agent, dtype=int)
        self.n_smo = n_smo
        na = len(self.smo)
        self.G = sp.csr_matrix((np.ones(na), (self.smo, np.arange(na))), shape=(n_smo, na))
        # stage data and solution as plain arrays (cvxpy Parameters validate every value
        # set, ~2 ms per clearing); the cvxpy problems are built for that backend only
        self.values: dict[str, np.ndarray] = {}
        self.sol: dict[str, np.ndarray] = {}
        if self.cfg.backend == "cvxpy":
            self._build(na)
        self._direct = ClarabelStages(self.smo, n_smo, reactive)
        self._closed = ClosedStages(self.smo, n_smo)
        self._first_agent = self._first()
        self._uniform = False
        self.paths: list[str] = []  # how stages 3-4 were solved in the last clearing

    def _build(self, na: int) -> None:
        G, ns = self.G, self.n_smo
        # padded (n_smo x K) layout of the agents: per-SMO norms become one cone per SMO
        counts = np.bincount(self.smo, minlength=ns)
        K = max(int(counts.max(initial=1)), 1)
        slot = np.zeros(na, dtype=int)
        seen = np.zeros(ns, dtype=int)
        for k, i in enumerate(self.smo):
            slot[k] = i * K + seen[i]
            seen[i] += 1
        E = sp.csr_matrix((np.ones(na), (slot, np.arange(na))), shape=(ns * K, na))
        par = {k: cp.Parameter(na) for k in ("lo", "hi", "qlo", "qhi", "mu", "muq")}
        par.update({k: cp.Parameter(na, nonneg=True) for k in ("sw1", "sbeta")})
        par.update({k: cp.Parameter(ns) for k in ("dtot", "qtot", "b2", "b3")})
        par.update({k: cp.Parameter(ns, nonneg=True) for k in ("rb1", "rb4")})
        self.par = par
        dp, fp = cp.Variable(na), cp.Variable(na, nonneg=True)
        self.var = {"dp": dp, "fp": fp}
        devs, flex = [dp], [fp]
        base = [G @ dp == par["dtot"], dp - fp >= par["lo"], dp + fp <= par["hi"]]
        lin2 = G @ cp.multiply(par["mu"], dp)
        if self.reactive:
            dq, fq = cp.Variable(na), cp.Variable(na, nonneg=True)
            self.var.update({"dq": dq, "fq": fq})
            devs.append(dq)
            flex.append(fq)
            base += [G @ dq == par["qtot"], dq - fq >= par["qlo"], dq + fq <= par["qhi"]]
            lin2 = lin2 + G @ cp.multiply(par["muq"], dq)

        def per_smo_norm(weight: cp.Parameter) -> cp.Expression:
            blocks = [cp.reshape(E @ cp.multiply(weight, d), (ns, K), order="C") for d in devs]
            return cp.norm(cp.hstack(blocks) if len(blocks) > 1 else blocks[0], 2, axis=1)

        def weighted_squares(weight: cp.Parameter) -> cp.Expression:
            return cp.sum([cp.sum_squares(cp.multiply(weight, d)) for d in devs])

        lin3 = -(G @ cp.sum(flex)) if len(flex) > 1 else -(G @ fp)
        objectives = [weighted_squares(par["sw1"]), cp.sum(lin2), cp.sum(lin3),
                      weighted_squares(par["sbeta"])]
        bounds = [per_smo_norm(par["sw1"]) <= par["rb1"], lin2 <= par["b2"],
                  lin3 <= par["b3"], per_smo_norm(par["sbeta"]) <= par["rb4"]]
        # stage 1 (reliability) has a closed form (`_waterfill`): no cvxpy problem for it
        self.problems: list[cp.Problem | None] = [None]
        for k in range(1, len(STAGES)):
            prob = cp.Problem(cp.Minimize(objectives[k]), base + bounds[:k])
            assert prob.is_dcp(dpp=True)
            self.problems.append(prob)

    def _solve_stage(self, k: int) -> str:
        """Solve stage k (1..3) with the current `self.values`; the solution is left in
        `self.sol`. Returns the status."""
        values = self.values
        if self.cfg.backend == "cvxpy":
            prob = self.problems[k]
            assert prob is not None
            for name, p in self.par.items():
                p.value = values[name]
            with warnings.catch_warnings():  # inaccurate solutions show in the status
                warnings.simplefilter("ignore", UserWarning)
                prob.solve(solver=cp.CLARABEL)
            if str(prob.status).startswith("optimal"):
                self.sol.update({name: var.value for name, var in self.var.items()})
            return str(prob.status)
        if self.cfg.backend == "closed" and self._uniform and not self.reactive:
            status, x = self._closed.solve(k, values)
            self.paths.append(f"closed ({self._closed.fallback_smos} SMOs by clarabel)")
        else:
            status, x = self._direct.solve(k, values)
            self.paths.append("clarabel")
        if status.startswith("optimal"):
            for name, value in self._direct.split(x).items():  # f >= 0 up to round-off
                self.sol[name] = np.maximum(value, 0.0) if name[0] == "f" else value
        return status

    def _stage_values(self) -> np.ndarray:
        """(4, n_smo) values of the stage objectives at the current solution (scaled)."""
        S, val = self._per_smo, self.values
        dp, fp = self.sol["dp"], self.sol["fp"]
        dq, fq = self._q_values()
        sq = dp ** 2 + dq ** 2
        return np.array([
            S(val["sw1"] ** 2 * sq),
            S(val["mu"] * dp + val["muq"] * dq),
            -S(fp + fq),
            S(val["sbeta"] ** 2 * sq),
        ])

    def clear(self, bids: SecondaryBids, target_p_kw: np.ndarray, target_q_kvar: np.ndarray,
              price: np.ndarray, price_q: np.ndarray | None = None) -> SecondaryResult:
        """Allocate SMO targets (per SMO) among agents; `price` per SMO or per agent."""
        cfg, data, S = self.cfg, self.values, self._per_smo
        na = len(bids)
        price = np.asarray(price, dtype=float)
        mu = price[self.smo] if price.shape[0] == self.n_smo and na != self.n_smo else price
        muq = np.zeros(na) if price_q is None else np.asarray(price_q, dtype=float)
        if muq.shape[0] == self.n_smo and na != self.n_smo:
            muq = muq[self.smo]
        lo = np.minimum(bids.p_min - bids.p0, 0.0)
        hi = np.maximum(bids.p_max - bids.p0, 0.0)
        qlo = np.minimum(bids.q_min - bids.q0, 0.0)
        qhi = np.maximum(bids.q_max - bids.q0, 0.0)
        # targets as deviations from the SMOs' baselines, clipped to what agents can do
        want_p = np.asarray(target_p_kw, dtype=float) - S(bids.p0)
        want_q = np.asarray(target_q_kvar, dtype=float) - S(bids.q0)
        dtot = np.clip(want_p, S(lo), S(hi))
        qtot = np.clip(want_q, S(qlo), S(qhi)) if self.reactive else np.zeros(self.n_smo)
        scale = max(float(np.max(np.abs(np.concatenate([lo, hi, qlo, qhi])), initial=0)), 1.0)
        data["lo"], data["hi"] = lo / scale, hi / scale
        data["qlo"], data["qhi"] = qlo / scale, qhi / scale
        data["dtot"], data["qtot"] = dtot / scale, qtot / scale
        data["mu"], data["muq"] = mu, muq
        rs = np.clip(bids.resilience, RS_FLOOR, 1.0)
        data["sw1"] = np.sqrt(1.0 / rs)
        data["sbeta"] = np.sqrt(np.maximum(bids.beta, 0.0) * scale)
        for name in ("rb1", "rb4", "b2", "b3"):
            data[name] = np.full(self.n_smo, 1e9)
        t0 = time.perf_counter()
        stage_vals = np.zeros((len(STAGES), self.n_smo))
        status = "optimal"
        first = self._first_agent
        uniform = (np.allclose(mu, mu[first][self.smo])
                   and np.allclose(muq, muq[first][self.smo]))
        self._uniform, self.paths = uniform, []
        for k in range(len(STAGES)):
            if k == 0:  # closed form: water-filling in proportion to RS (exact optimum)
                val = S(self._waterfill(rs, lo / scale, hi / scale, dtot / scale) ** 2 / rs)
                if self.reactive:
                    val = val + S(self._waterfill(rs, qlo / scale, qhi / scale,
                                                qtot / scale) ** 2 / rs)
            elif k == 1 and uniform:  # one price per SMO: the net cost is fixed by the balance
                val = (mu[first] * dtot + muq[first] * qtot) / scale
            else:
                stage_status = self._solve_stage(k)
                if stage_status == "optimal_inaccurate":
                    status = "optimal_inaccurate"
                if stage_status not in ("optimal", "optimal_inaccurate"):
                    status = f"stage {STAGES[k]}: {stage_status}"
                    break
                val = self._stage_values()[k]
            stage_vals[k] = val
            bound = val + cfg.epsilon * np.abs(val) + cfg.abs_tol
            if k in (0, 3):
                data["rb1" if k == 0 else "rb4"] = np.sqrt(np.maximum(bound, 0.0))
            else:
                data["b2" if k == 1 else "b3"] = bound
        dt = time.perf_counter() - t0
        if not status.startswith("optimal"):
            z = np.zeros(na)
            return SecondaryResult(status, bids.p0.copy(), bids.q0.copy(), z, z.copy(),
                                   mu + cfg.tariff_markup, S(bids.p0), S(bids.q0),
                                   stage_vals, stage_vals.copy(), np.abs(want_p - dtot), dt)
        v = self.sol
        dq, fq = self._q_values()
        dp, dq = v["dp"] * scale, dq * scale
        final = self._stage_values()
        stage_vals, final = self._unscale(stage_vals, scale), self._unscale(final, scale)
        return SecondaryResult(
            status=status, p_kw=bids.p0 + dp, q_kvar=bids.q0 + dq,
            flex_p_kw=v["fp"] * scale, flex_q_kvar=fq * scale,
            tariff=mu + cfg.tariff_markup, smo_p_kw=S(bids.p0 + dp),
            smo_q_kvar=S(bids.q0 + dq), stage_values=stage_vals, final_values=final,
            shortfall_kw=np.abs(want_p - dtot), solve_time_s=dt,
        )

    def _per_smo(self, x: np.ndarray) -> np.ndarray:
        """Per-SMO sums `G @ x` (bit-identical: the same additions in agent order, without
        a sparse product's ~10 us overhead)."""
        return np.bincount(self.smo, weights=x, minlength=self.n_smo)

    def _waterfill(self, rs: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                   total: np.ndarray) -> np.ndarray:
        """Exact argmin of sum_j d_j^2 / rs_j s.t. G d = total, lo <= d <= hi (vectorised).

        KKT: d_j = clip(nu_i rs_j, lo_j, hi_j) with one multiplier nu_i per SMO; the SMO sum
        is piecewise linear and non-decreasing in nu_i, so bisection over the sorted
        breakpoints brackets the linear piece holding the root, which is then solved for
        exactly on that piece (`stage_closed._balance`).
        `total` must lie within [G lo, G hi] (it is clipped by the caller).
        """
        return self._closed.waterfill(rs, lo, hi, total)

    def _q_values(self) -> tuple[np.ndarray, np.ndarray]:
        if self.reactive:
            return self.sol["dq"], self.sol["fq"]
        z = np.zeros(len(self.smo))
        return z, z.copy()

    def _first(self) -> np.ndarray:
        """Index of the first agent of every SMO (SMOs without agents map to agent 0)."""
        first = np.zeros(self.n_smo, dtype=int)
        seen = np.zeros(self.n_smo, dtype=bool)
        for k, i in enumerate(self.smo):
            if not seen[i]:
                first[i], seen[i] = k, True
        return first

    @staticmethod
    def _unscale(vals: np.ndarray, scale: float) -> np.ndarray:
        out = vals.copy()
        out[0] *= scale ** 2  # kW^2 / RS
        out[1] *= scale  # $/h
        out[2] *= scale  # kW
        out[3] *= scale  # beta was pre-multiplied by scale: $/h
        return out


class CommitmentTracker:
    """Commitment score per agent from achieved vs scheduled response (in [0, 1]).

    score <- m * score + (1 - m) * 1 / (1 + (error / scale)^2), m = memory; agents start at 1.
    Scores live in one array indexed by agent (updates arrive ~100 times per step): `defer`
    queues an update and the queue is applied, in arrival order, in one vectorised pass
    before the scores are read.
    """

    def __init__(self, memory: float = 0.8, scale_kw: float = 0.5):
        self.memory, self.scale = memory, scale_kw
        self._slot: dict[str, int] = {}
        self._scores = np.ones(64)
        # queued updates: (agents, scheduled kW, achieved kW); NaN scheduled = no schedule
        self._queue: list[tuple[list[str], list[float], list[float]]] = []

    @property
    def scores(self) -> dict[str, float]:
        self.flush()
        return {a: float(self._scores[k]) for a, k in self._slot.items()}

    def _slots(self, agents: list[str]) -> np.ndarray:
        slot = self._slot
        for a in agents:
            if a not in slot:
                slot[a] = len(slot)
        if len(slot) > len(self._scores):
            grown = np.ones(2 * len(slot))
            grown[:len(self._scores)] = self._scores
            self._scores = grown
        return np.fromiter((slot[a] for a in agents), dtype=int, count=len(agents))

    def update(self, agents: list[str], scheduled_kw: np.ndarray,
               achieved_kw: np.ndarray) -> dict[str, float]:
        self.flush()
        idx = self._update(agents, scheduled_kw, achieved_kw)
        return dict(zip(agents, self._scores[idx].tolist(), strict=True))

    def _update(self, agents: list[str], scheduled_kw: np.ndarray,
                achieved_kw: np.ndarray) -> np.ndarray:
        """Apply one update; returns the agents' slots."""
        idx = self._slots(agents)
        err = np.abs(np.asarray(achieved_kw, dtype=float) - np.asarray(scheduled_kw, dtype=float))
        inst = 1.0 / (1.0 + (err / self.scale) ** 2)
        self._scores[idx] = self.memory * self._scores[idx] + (1 - self.memory) * inst
        return idx

    def defer(self, agents: list[str], scheduled_kw: list[float],
              achieved_kw: list[float]) -> None:
        """Queue an update (agents with a NaN schedule are left out when it is applied)."""
        self._queue.append((agents, scheduled_kw, achieved_kw))

    def flush(self) -> None:
        """Apply the queued updates in one pass (the same element-wise arithmetic as one
        update each) when no agent repeats in them, else one update each, in order."""
        queue, self._queue = self._queue, []
        if not queue:
            return
        agents = [a for q in queue for a in q[0]]
        if len(set(agents)) < len(agents):
            for q in queue:
                self._update_finite(q[0], np.asarray(q[1], dtype=float),
                                    np.asarray(q[2], dtype=float))
            return
        n = len(agents)
        self._update_finite(
            agents, np.fromiter(chain.from_iterable(q[1] for q in queue), dtype=float, count=n),
            np.fromiter(chain.from_iterable(q[2] for q in queue), dtype=float, count=n))

    def _update_finite(self, agents: list[str], scheduled_kw: np.ndarray,
                       achieved_kw: np.ndarray) -> None:
        """`_update` of the agents with a (finite) schedule."""
        ok = np.isfinite(scheduled_kw)
        if not ok.all():
            agents = [a for a, k in zip(agents, ok.tolist(), strict=True) if k]
            scheduled_kw, achieved_kw = scheduled_kw[ok], achieved_kw[ok]
        self._update(agents, scheduled_kw, achieved_kw)

    def get(self, agents: list[str]) -> np.ndarray:
        """Scores of `agents` (1 for an agent never updated)."""
        self.flush()
        slot = self._slot
        idx = np.fromiter((slot.get(a, -1) for a in agents), dtype=int, count=len(agents))
        return np.where(idx >= 0, self._scores[idx], 1.0)
