"""The envelope methods B0-B4 for one interval, each validated in OpenDSS (spec §2).

B0 no envelope (DERs at their forecast limit), B1 ICNN-as-LP, B2 the same networks as a
MILP, B3 balanced LinDistFlow (see :mod:`federates.doe.lindistflow`), B4 ReLU-MLP big-M
MILP (time-limited). Each row reports the model's own view (the surrogates' forward pass
for B0-B2 and B4, the LinDistFlow objective for B3) and OpenDSS's (J_L, J_V).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from federates.doe.case import Case, Limits, Weights
from federates.doe.embed import EnvelopeLP, Solution, Study, model_objective, solve_milp
from federates.doe.lindistflow import LinDistFlowEnvelope
from federates.doe.snapshot import Snapshotter
from federates.doe.surrogates import SurrogateSet
from federates.doe.validate import check

METHODS = ("B0", "B1", "B2", "B3", "B4")


@dataclass(frozen=True)
class MilpSettings:
    b2_time_limit_s: float = 60.0
    b4_time_limit_s: float = 60.0
    b2_gap: float = 1e-6
    b4_gap: float = 1e-4


class EnvelopeEngine:
    """Solvers built once per study; ``run`` computes and validates one interval."""

    def __init__(self, snap: Snapshotter, icnn: SurrogateSet, mlp: SurrogateSet | None,
                 case: Case, limits: Limits, weights: Weights,
                 milp: MilpSettings = MilpSettings()) -> None:
        self.snap, self.icnn, self.mlp, self.case = snap, icnn, mlp, case
        self.limits, self.weights, self.milp = limits, weights, milp
        nl = len(snap.base_p_kw)
        self.der_cols = np.arange(2 * nl, 2 * nl + case.n_der)
        self.q_der = np.array([d.q_kvar for d in case.ders])
        self.lp = {s: EnvelopeLP(icnn, self.der_cols, weights, s) for s in ("upper", "lower")}
        self.b3 = {s: LinDistFlowEnvelope(case, snap.load_bus, weights, s, snap.taps)
                   for s in ("upper", "lower")}

    def x_of(self, p_load: np.ndarray, q_load: np.ndarray, p_der: np.ndarray) -> np.ndarray:
        return np.concatenate([p_load, q_load, p_der, self.q_der])

    def solve(self, method: str, study: Study, p_load, q_load, p_lo, p_hi) -> Solution:
        x = self.x_of(p_load, q_load, p_hi)
        if method == "B0":
            return Solution(np.array(p_hi if study == "upper" else p_lo, float), np.nan,
                            "none", np.nan, {})
        if method == "B1":
            return self.lp[study].solve(x, p_lo, p_hi, self.limits)
        if method == "B2":
            return solve_milp(self.icnn, self.der_cols, x, p_lo, p_hi, self.limits,
                              self.weights, study, self.milp.b2_time_limit_s, self.milp.b2_gap)
        if method == "B3":
            return self.b3[study].solve(p_load, q_load, p_lo, p_hi, self.limits)
        if method == "B4":
            if self.mlp is None:
                raise ValueError("B4 needs the MLP surrogates")
            return solve_milp(self.mlp, self.der_cols, x, p_lo, p_hi, self.limits,
                              self.weights, study, self.milp.b4_time_limit_s, self.milp.b4_gap)
        raise ValueError(f"unknown method {method!r}; known: {METHODS}")

    def run(self, method: str, study: Study, p_load, q_load, p_lo, p_hi) -> dict:
        """Envelope of one interval by ``method``, with model and OpenDSS objective terms."""
        p_lo, p_hi = np.asarray(p_lo, float), np.asarray(p_hi, float)
        sol = self.solve(method, study, p_load, q_load, p_lo, p_hi)
        row: dict = {"method": method, "study": study, "status": sol.status,
                     "solve_s": sol.solve_s, "n_binary": sol.n_binary}
        for j, d in enumerate(self.case.ders):
            row[f"p_{d.name}"] = float(sol.p[j])
            row[f"lo_{d.name}"], row[f"hi_{d.name}"] = float(p_lo[j]), float(p_hi[j])
        if not np.all(np.isfinite(sol.p)):
            return row
        x = self.x_of(p_load, q_load, sol.p)
        nets = self.mlp if method == "B4" else self.icnn
        mo = model_objective(nets, x, self.der_cols, p_lo, p_hi, self.limits, self.weights,
                             study)
        row |= {"J_D": mo["J_D"], "model_J_L": mo["J_L"], "model_J_V": mo["J_V"],
                "model_J": sol.objective if method not in ("B0",) else mo["J"],
                "fwd_J": mo["J"]}
        ck = check(self.snap, p_load, q_load, sol.p, self.limits, self.weights)
        if ck.get("converged"):
            jl = self.weights.beta * ck["loss_kw"]
            row |= {"J_L": jl, "J_V": ck["J_V"], "J": mo["J_D"] + jl + ck["J_V"],
                    **{f"dss_{k}": v for k, v in ck.items() if k not in ("J_V",)}}
        return row

    def interval(self, series, t: int, methods: tuple[str, ...], study: Study) -> list[dict]:
        rows = []
        for m in methods:
            r = self.run(m, study, series.p_load[t], series.q_load[t], series.p_lo[t],
                         series.p_hi[t])
            rows.append({"t": int(t), **r})
        return rows

