"""Networks embedded in HiGHS: the ICNN-as-LP (24) and the exact big-M MILP (22).

Columns: the DER injections ``p`` first, then every hidden layer ``z`` of every network, then
one slack ``s`` per penalised output (V, I, P). Rows ``z_1 - Wx_0,d p >= b_0``,
``z_{i+1} - Wz_i z_i - Wx_i,d p >= b_i`` and ``s - Wz_k z_k - Wx_k,d p >= b_k - c``, where the
fixed inputs (loads, DER reactive power) are folded into ``b`` each interval: ``b = b0 +
Wx,fixed x_fixed``. The loss network's output enters the objective directly. The LP is built
once; an interval changes only row lower bounds, the DER column bounds and the objective
offset. The MILP adds, per neuron whose pre-activation bounds (interval arithmetic over the
interval's box) straddle 0, a binary and two big-M rows; stable neurons need none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import highspy
import numpy as np
import scipy.sparse as sp

from federates.doe.case import Limits, Weights
from federates.doe.nets import interval_bounds
from federates.doe.surrogates import SurrogateSet, penalty_weights

Study = Literal["upper", "lower"]
INF = highspy.kHighsInf


@dataclass
class Solution:
    p: np.ndarray
    objective: float
    status: str
    solve_s: float
    z: dict[str, list[np.ndarray]]
    n_binary: int = 0


class _Layout:
    """Column/row layout of the embedding and the per-row bias maps (built once)."""

    def __init__(self, sset: SurrogateSet, der_cols: np.ndarray) -> None:
        self.sset, self.d = sset, np.asarray(der_cols)
        n_in = sset.nets["L"].n_in
        self.fixed = np.setdiff1d(np.arange(n_in), self.d)
        self.nd = len(self.d)
        col = self.nd
        self.zcols: dict[str, list[np.ndarray]] = {}
        self.scols: dict[str, np.ndarray] = {}
        for m, net in sset.nets.items():
            self.zcols[m] = []
            for h in net.widths:
                self.zcols[m].append(np.arange(col, col + h))
                col += h
        for m in ("V", "I", "P"):
            n = sset.nets[m].n_out
            self.scols[m] = np.arange(col, col + n)
            col += n
        self.n_col = col
        rows_a, wxf, b0, is_out, layer_id = [], [], [], [], []
        for m, net in sset.nets.items():
            k = len(net.widths)
            for i in range(k + (0 if m == "L" else 1)):
                h = len(net.b[i])
                out = sp.identity(h, format="csr")
                tgt = self.zcols[m][i] if i < k else self.scols[m]
                blocks = [(tgt, out)]
                if i > 0:
                    blocks.append((self.zcols[m][i - 1], -sp.csr_matrix(net.wz[i - 1])))
                blocks.append((np.arange(self.nd), -sp.csr_matrix(net.wx[i][:, self.d])))
                rows_a.append(sum(self._place(c, b) for c, b in blocks).tocsr())
                wxf.append(net.wx[i][:, self.fixed])
                b0.append(net.b[i])
                is_out.append(np.full(h, i == k))
                layer_id.append((m, i))
        self.a = sp.vstack(rows_a).tocsr()
        self.a.eliminate_zeros()
        self.wx_fixed = np.vstack(wxf)
        self.b0 = np.concatenate(b0)
        self.layer_rows = np.cumsum([0] + [len(b) for b in b0])
        self.layers = layer_id
        lnet = sset.nets["L"]
        self.loss_zcost = lnet.wz[-1][0]
        self.loss_pcost = lnet.wx[-1][0, self.d]
        self.loss_fixed = lnet.wx[-1][0, self.fixed]
        self.loss_b = float(lnet.b[-1][0])

    def _place(self, cols: np.ndarray, block: sp.csr_matrix) -> sp.csr_matrix:
        """Scatter ``block``'s columns into the full column space."""
        sel = sp.csr_matrix((np.ones(len(cols)), (np.arange(len(cols)), cols)),
                            shape=(len(cols), self.n_col))
        return block @ sel

    def row_lower(self, x_fixed: np.ndarray, limits: Limits) -> np.ndarray:
        lo = self.b0 + self.wx_fixed @ x_fixed
        c = self.sset.thresholds(limits)
        for j, (m, i) in enumerate(self.layers):
            if i == len(self.sset.nets[m].widths):
                lo[self.layer_rows[j]:self.layer_rows[j + 1]] -= c[m]
        return lo

    def costs(self, weights: Weights, study: Study) -> np.ndarray:
        cost = np.zeros(self.n_col)
        sign = -1.0 if study == "upper" else 1.0
        cost[: self.nd] = sign * weights.alpha + weights.beta * self.loss_pcost
        cost[self.zcols["L"][-1]] = weights.beta * self.loss_zcost
        for m, g in penalty_weights(weights).items():
            cost[self.scols[m]] = g
        return cost

    def offset(self, x_fixed, p_lo, p_hi, weights: Weights, study: Study) -> float:
        dev = np.sum(p_hi) if study == "upper" else -np.sum(p_lo)
        return weights.alpha * dev + weights.beta * (self.loss_b + self.loss_fixed @ x_fixed)

    def unpack(self, col_value: np.ndarray) -> dict[str, list[np.ndarray]]:
        return {m: [col_value[c] for c in cs] for m, cs in self.zcols.items()}


def _highs() -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    return h


def _lp(layout: _Layout, cost, col_lo, col_hi, row_lo, row_hi, offset) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = layout.n_col, layout.a.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, col_lo, col_hi
    lp.row_lower_, lp.row_upper_ = row_lo, row_hi
    lp.offset_ = float(offset)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = layout.a.indptr
    lp.a_matrix_.index_ = layout.a.indices
    lp.a_matrix_.value_ = layout.a.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = layout.n_col, layout.a.shape[0]
    return lp


class EnvelopeLP:
    """B1: the ICNN-as-LP (24) for one study, built once and updated per interval."""

    def __init__(self, sset: SurrogateSet, der_cols: np.ndarray, weights: Weights,
                 study: Study, prune: bool = True) -> None:
        if not all(n.convex and n.min_wz() >= 0.0 for n in sset.nets.values()):
            raise ValueError("the LP embedding needs ICNNs with Wz >= 0 (Theorem 1)")
        self.sset, self.lay = sset, _Layout(sset, der_cols)
        self.weights, self.study = weights, study
        n_row = self.lay.a.shape[0]
        col_lo = np.zeros(self.lay.n_col)
        col_hi = np.full(self.lay.n_col, INF)
        self.h = h = _highs()
        self.h.passModel(_lp(self.lay, self.lay.costs(weights, study), col_lo, col_hi,
                             np.zeros(n_row), np.full(n_row, INF), 0.0))
        self._rows = np.arange(n_row, dtype=np.int32)
        self._dcols = np.arange(self.lay.nd, dtype=np.int32)
        self._scols = np.concatenate(list(self.lay.scols.values())).astype(np.int32)
        self._hard = False
        self.prune = prune
        self._zcols = np.concatenate([c for cs in self.lay.zcols.values() for c in cs]
                                     ).astype(np.int32)
        if prune:
            h.setOptionValue("presolve", "off")  # keep the basis between intervals

    def _prune(self, x, p_lo, p_hi, row_lo, row_up) -> None:
        """Fix neurons that are stable over the interval's DER box (interval arithmetic):
        always inactive -> z = 0, always active -> z = pre-activation. The forward-pass point,
        which is optimal (Theorem 1), stays feasible, so the optimum is unchanged."""
        lay = self.lay
        box_lo, box_hi = x.copy(), x.copy()
        box_lo[lay.d], box_hi[lay.d] = p_lo, p_hi
        z_up = np.full(lay.n_col, INF)
        for j, (m, i) in enumerate(lay.layers):
            net = self.sset.nets[m]
            if i >= len(net.widths):
                continue
            pre_lo, pre_hi = interval_bounds(net, box_lo, box_hi)[i]
            z_up[lay.zcols[m][i][pre_hi <= 0.0]] = 0.0
            rows = lay.layer_rows[j] + np.flatnonzero(pre_lo >= 0.0)
            row_up[rows] = row_lo[rows]
        zc = self._zcols
        self.h.changeColsBounds(len(zc), zc, np.zeros(len(zc)), z_up[zc])

    @property
    def n_nonzeros(self) -> int:
        return int(self.lay.a.nnz)

    def solve(self, x: np.ndarray, p_lo: np.ndarray, p_hi: np.ndarray, limits: Limits,
              hard: bool = False) -> Solution:
        """Envelope of one interval: ``x`` full input vector (its DER entries are ignored)."""
        lay, h = self.lay, self.h
        x = np.asarray(x, float)
        xf = x[lay.fixed]
        lo = lay.row_lower(xf, limits)
        up = np.full(len(lo), INF)
        if self.prune:
            self._prune(x, p_lo, p_hi, lo, up)
        h.changeRowsBounds(len(lo), self._rows, lo, up)
        h.changeColsBounds(lay.nd, self._dcols, np.asarray(p_lo, float),
                           np.asarray(p_hi, float))
        if hard != self._hard:
            s_up = np.full(len(self._scols), 0.0 if hard else INF)
            h.changeColsBounds(len(s_up), self._scols, np.zeros(len(s_up)), s_up)
            self._hard = hard
        h.changeObjectiveOffset(lay.offset(xf, p_lo, p_hi, self.weights, self.study))
        t0 = time.perf_counter()
        h.run()
        dt = time.perf_counter() - t0
        status = h.modelStatusToString(h.getModelStatus())
        if status != "Optimal":
            return Solution(np.full(lay.nd, np.nan), np.nan, status, dt, {})
        col = np.asarray(h.getSolution().col_value)
        return Solution(col[: lay.nd].copy(), h.getInfo().objective_function_value, status,
                        dt, lay.unpack(col))


def solve_milp(sset: SurrogateSet, der_cols: np.ndarray, x: np.ndarray, p_lo: np.ndarray,
               p_hi: np.ndarray, limits: Limits, weights: Weights, study: Study,
               time_limit_s: float = 60.0, mip_gap: float = 1e-6) -> Solution:
    """B2 (ICNNs) or B4 (MLPs): exact ReLU networks as a big-M MILP for one interval."""
    lay = _Layout(sset, der_cols)
    xf = np.asarray(x, float)[lay.fixed]
    n_row = lay.a.shape[0]
    row_lo = lay.row_lower(xf, limits)
    row_hi = np.full(n_row, INF)
    col_lo, col_hi = np.zeros(lay.n_col), np.full(lay.n_col, INF)
    col_lo[: lay.nd], col_hi[: lay.nd] = p_lo, p_hi
    box_lo, box_hi = np.asarray(x, float).copy(), np.asarray(x, float).copy()
    box_lo[lay.d], box_hi[lay.d] = p_lo, p_hi
    extra_rows, extra_lo, extra_hi, n_bin = [], [], [], 0
    bin_cols: list[int] = []
    for j, (m, i) in enumerate(lay.layers):
        net = sset.nets[m]
        if i >= len(net.widths):
            continue
        pre_lo, pre_hi = interval_bounds(net, box_lo, box_hi)[i]
        r0 = lay.layer_rows[j]
        zc = lay.zcols[m][i]
        col_hi[zc[pre_hi <= 0.0]] = 0.0
        act = np.flatnonzero(pre_lo >= 0.0)
        row_hi[r0 + act] = row_lo[r0 + act]  # z = a exactly
        for q in np.flatnonzero((pre_lo < 0.0) & (pre_hi > 0.0)):
            dcol = lay.n_col + n_bin
            n_bin += 1
            bin_cols.append(dcol)
            base = lay.a.getrow(r0 + q)
            # z - a - l*delta <= b - l   and   z - u*delta <= 0
            extra_rows.append((base.indices, base.data, dcol, -pre_lo[q]))
            extra_lo.append(-INF)
            extra_hi.append(row_lo[r0 + q] - pre_lo[q])
            extra_rows.append((np.array([zc[q]]), np.array([1.0]), dcol, -pre_hi[q]))
            extra_lo.append(-INF)
            extra_hi.append(0.0)
    n_col = lay.n_col + n_bin
    a = sp.lil_matrix((len(extra_rows), n_col))
    for r, (idx, val, dcol, dval) in enumerate(extra_rows):
        a[r, idx] = val
        a[r, dcol] = dval
    full = sp.vstack([sp.hstack([lay.a, sp.csr_matrix((n_row, n_bin))]), a.tocsr()]).tocsr()
    h = _highs()
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_col, full.shape[0]
    lp.col_cost_ = np.r_[lay.costs(weights, study), np.zeros(n_bin)]
    lp.col_lower_ = np.r_[col_lo, np.zeros(n_bin)]
    lp.col_upper_ = np.r_[col_hi, np.ones(n_bin)]
    lp.row_lower_ = np.r_[row_lo, extra_lo]
    lp.row_upper_ = np.r_[row_hi, extra_hi]
    lp.offset_ = lay.offset(xf, p_lo, p_hi, weights, study)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_, lp.a_matrix_.index_ = full.indptr, full.indices
    lp.a_matrix_.value_ = full.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_col, full.shape[0]
    lp.integrality_ = [highspy.HighsVarType.kContinuous] * lay.n_col + \
        [highspy.HighsVarType.kInteger] * n_bin
    h.passModel(lp)
    t0 = time.perf_counter()
    h.run()
    dt = time.perf_counter() - t0
    status = h.modelStatusToString(h.getModelStatus())
    sol = h.getSolution()
    if not sol.value_valid:
        return Solution(np.full(lay.nd, np.nan), np.nan, status, dt, {}, n_bin)
    col = np.asarray(sol.col_value)
    return Solution(col[: lay.nd].copy(), h.getInfo().objective_function_value, status, dt,
                    lay.unpack(col), n_bin)


def model_objective(sset: SurrogateSet, x: np.ndarray, der_cols: np.ndarray,
                    p_lo: np.ndarray, p_hi: np.ndarray, limits: Limits, weights: Weights,
                    study: Study) -> dict[str, float]:
    """Objective (2) by the networks' forward pass at ``x`` (DER entries = the envelope)."""
    p = np.asarray(x, float)[der_cols]
    dev = np.sum(p_hi - p) if study == "upper" else np.sum(p - p_lo)
    pen = sset.penalties(x, limits, weights)
    jd, jl = weights.alpha * float(dev), weights.beta * pen["loss_kw"]
    return {"J_D": jd, "J_L": jl, "J_V": pen["J_V"], "J": jd + jl + pen["J_V"]}
