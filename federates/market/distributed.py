"""A primary clearing by PAC / NST-PAC, reported against the central solve.

`primary.solver: pac | nst_pac`: the central clearing runs first (it is the reference and
keeps the price decomposition); the atoms then clear the same problem. The agents'
setpoints, bus voltages, PCC import and dLMPs of the result are the distributed ones; the
iterations, final residuals and the gaps to the central solve go into `extra`:
`pac_iterations`, `pac_converged`, `pac_primal_residual_pu`, `pac_consensus_residual_pu`,
`pac_objective_gap` (relative) and `pac_dlmp_gap` [$/kWh].
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from federates.market.atoms import AtomisedMarket
from federates.market.clearing import AgentBids, ClearingResult
from federates.market.config import PrimaryConfig
from federates.market.pac import PacResult, PacSettings, PacSolver
from feeders.network import Network


def pac_settings(cfg: PrimaryConfig) -> PacSettings:
    p = cfg.pac
    return PacSettings(method=cfg.solver, rho=p.rho, gamma=p.gamma,
                       max_iterations=p.max_iterations, tol=p.tol, private=p.private,
                       seed=p.seed, primal_momentum=p.primal_momentum)


def clear_distributed(net: Network, agent_bus: np.ndarray, cfg: PrimaryConfig,
                      bids: AgentBids, background_p_kw: np.ndarray,
                      background_q_kvar: np.ndarray, tap: np.ndarray,
                      central: ClearingResult) -> tuple[ClearingResult, PacResult]:
    """Run the atoms on this period's problem; the result carries their solution."""
    mkt = AtomisedMarket(net, agent_bus, cfg, bids, background_p_kw, background_q_kvar, tap)
    ref = mkt.solve_central()
    out = PacSolver(mkt, pac_settings(cfg)).run(ref)
    S, sl, a = net.s_base_kva, mkt.layout.sl, out.a
    dp, dq, pg = a[sl["dp"]] * S, a[sl["dq"]] * S, a[sl["pg"]] * S
    p_load = bids.p0 + dp
    extra = dict(central.extra)
    extra.update({
        "pac_iterations": float(out.iterations), "pac_converged": float(out.converged),
        "pac_primal_residual_pu": float(out.primal_residual[-1]),
        "pac_consensus_residual_pu": float(out.consensus_residual[-1]),
        "pac_objective_gap": out.objective_gap, "pac_dlmp_gap": out.dlmp_gap,
        "pac_dlmp_gap_to_market": float(np.max(np.abs(out.dlmp - central.dlmp))),
    })
    res = replace(central, p_kw=p_load - pg, q_kvar=bids.q0 + dq, p_load_kw=p_load,
                  p_gen_kw=pg, v_pu=np.sqrt(np.maximum(a[sl["v"]], 0.0)),
                  pcc_p_kw=float(a[sl["P0"]][0] * S), pcc_q_kvar=float(a[sl["Q0"]][0] * S),
                  dlmp=out.dlmp, branch_p_kw=a[sl["P"]] * S, branch_q_kvar=a[sl["Q"]] * S,
                  solve_time_s=central.solve_time_s + out.solve_time_s, extra=extra)
    return res, out
