"""Envelopes checked in OpenDSS: every node voltage, every line-phase current, reverse flow.

OpenDSS is the ground truth. ``J_V`` uses the same weights as the objective but over all
nodes and lines (not only the retrenched outputs of the surrogates) and the limits without
any safety margin. The ``n_*`` counts apply the reporting tolerances of spec test 12
(0.001 pu, 1 % of the current limit, 1 kW).
"""

from __future__ import annotations

import itertools

import numpy as np

from federates.doe.case import Limits, Weights
from federates.doe.snapshot import Snapshotter

TOL_V_PU, TOL_I_REL, TOL_P_KW = 1e-3, 0.01, 1.0


def check(snap: Snapshotter, p_load: np.ndarray, q_load: np.ndarray, p_der: np.ndarray,
          limits: Limits, weights: Weights) -> dict[str, float]:
    """Solve one snapshot with the DERs at ``p_der`` and measure violations and losses."""
    m = snap.solve(p_load, q_load, p_der)
    if m is None:
        return {"converged": 0.0}
    v = m.v_pu[snap.check_nodes]
    ov = np.maximum(v - limits.v_max_pu, 0.0) + np.maximum(limits.v_min_pu - v, 0.0)
    oi = np.maximum(m.i_a - limits.i_max_a, 0.0)
    op = np.maximum(-m.p_mon_kw - limits.p_rev_kw, 0.0)
    jv = weights.gamma_v * ov.sum() + weights.gamma_i * oi.sum() + weights.gamma_p * op.sum()
    return {
        "converged": 1.0, "loss_kw": m.loss_kw, "J_V": float(jv),
        "v_min_pu": float(v.min()), "v_max_pu": float(v.max()),
        "i_max_a": float(m.i_a.max()), "p_rev_kw": float(max(-m.p_mon_kw.min(), 0.0)),
        "rho_V": float(ov.sum()), "rho_I": float(oi.sum()), "rho_P": float(op.sum()),
        "n_V": int((ov > TOL_V_PU).sum()), "n_I": int((oi > TOL_I_REL * limits.i_max_a).sum()),
        "n_P": int((op > TOL_P_KW).sum()), "p_sub_kw": m.p_sub_kw,
    }


def corners(snap: Snapshotter, p_load: np.ndarray, q_load: np.ndarray, lower: np.ndarray,
            upper: np.ndarray, limits: Limits, weights: Weights) -> list[dict[str, float]]:
    """All 2^n DER corners of the envelope [lower, upper] (reported, not gated)."""
    out = []
    for pick in itertools.product((0, 1), repeat=len(lower)):
        p = np.where(np.array(pick, bool), upper, lower)
        out.append({"corner": "".join("U" if k else "L" for k in pick),
                    **check(snap, p_load, q_load, p, limits, weights)})
    return out
