"""Primary market clearing: AC OPF on the feeder with dLMPs and their decomposition.

The balanced branch-flow physics come from `feeders.distflow`: the second-order-cone
relaxation (model "socp") or LinDistFlow with a fixed, iteratively updated loss estimate
(model "lindistflow"). This module adds the market around them: the agents' bids, the
objective, voltage limits, the PCC and the grid-forming unit (`island`), and the prices
(`prices`). The cvxpy problem is built once with Parameters (DPP) and re-solved with
Clarabel each period; `clear(bids, background)` returns one `ClearingResult`.

Objective ($/h, seed eq. (1) with the multi-objective weights w1..w4):
    w1 * sum_i beta_i (P_Li - P_Li0)^2        disutility of the SMOs' flexible load
  + w2 * (sum_i 1/2 alpha_i P_Gi^2 + c * P_0)  local generation cost + PCC import cost
  + w3 * c_v * sum_j (v_j - 1)^2               voltage deviation (squared voltages)
  + w4 * xi * losses                           extra loss penalty
Agents (SMOs / primary market agents) sit at buses; a bid gives the baseline net load P0,
a net-load range [P_min, P_max] and upward generation headroom; every other bus carries
a fixed background load.

dLMPs are the duals of the bus active-power balances (marginal $/kWh of serving 1 kW more
at that bus), split by `prices.decompose` into energy, losses, voltage and congestion.
With the source of an island inside the feeder, the lossless upper bound of the voltage
(`linear_upper_voltage`) is exact below the unit and an approximation on the path from it
to the source bus.
"""

from __future__ import annotations

import time
import warnings

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from federates.market.clearing import AgentBids, Background, ClearingResult, failed_result
from federates.market.config import PrimaryConfig
from federates.market.island import SupplySide
from federates.market.prices import PriceSources, decompose
from feeders.distflow import BranchFlow, LinDistFlow, SocpFlow
from feeders.network import Network

__all__ = ["AgentBids", "Background", "ClearingResult", "PrimaryMarket"]


class PrimaryMarket:
    """Parametric OPF of the primary market; build once, `clear()` every period."""

    def __init__(self, net: Network, agent_buses: list[str],
                 config: PrimaryConfig | None = None, agent_ids: list[str] | None = None):
        self.net = net
        self.cfg = config or PrimaryConfig()
        self.agent_ids = list(agent_ids or agent_buses)
        self.agent_bus = np.array([net.bus_index[b] for b in agent_buses], dtype=int)
        self.supply = SupplySide(net, self.cfg)
        self.flow: BranchFlow = (
            LinDistFlow(net, self.cfg.line_limits, self.cfg.loss_tol)
            if self.cfg.model == "lindistflow" else SocpFlow(net, self.cfg.line_limits))
        a = len(self.agent_bus)
        # agents -> buses (n x a): bus injections of agent quantities
        self.agent_incidence = sp.csr_matrix(
            (np.ones(a), (self.agent_bus, np.arange(a))), shape=(net.n, a))
        self.last_pac = None  # PacResult of the last distributed clearing
        self._build()

    @property
    def gf_bus(self) -> int | None:
        return self.supply.gf_bus

    @property
    def island(self) -> bool:
        return self.supply.island

    @property
    def slack(self) -> int:
        return self.supply.slack

    @property
    def tap(self) -> np.ndarray:
        """Voltage ratio per branch used by the clearing."""
        return self.flow.tap

    @property
    def grid_forming_bus(self) -> str | None:
        """Name of the grid-forming unit's bus (None without one)."""
        return None if self.gf_bus is None else self.net.buses[self.gf_bus]

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        net, n, m, a = self.net, self.net.n, self.net.m, len(self.agent_bus)
        A, flow = self.agent_incidence, self.flow
        self.p = {
            "pf": cp.Parameter(n, name="pf"), "qf": cp.Parameter(n, name="qf"),
            "p0": cp.Parameter(a), "q0": cp.Parameter(a),
            "dp_lo": cp.Parameter(a), "dp_hi": cp.Parameter(a),
            "dq_lo": cp.Parameter(a), "dq_hi": cp.Parameter(a),
            "gmax": cp.Parameter(a, nonneg=True),
            "sb": cp.Parameter(a, nonneg=True), "sa": cp.Parameter(a, nonneg=True),
            "c_imp": cp.Parameter(), "c_q": cp.Parameter(), "sv": cp.Parameter(nonneg=True),
            "vlo": cp.Parameter(m), "vhi": cp.Parameter(m), "v0": cp.Parameter(nonneg=True),
        }
        pr = self.p
        dp, dq = cp.Variable(a, name="dp"), cp.Variable(a, name="dq")
        pg = cp.Variable(a, nonneg=True, name="pg")
        v = flow.v
        P0, Q0 = cp.Variable(name="P0"), cp.Variable(name="Q0")
        self.v = {"dp": dp, "dq": dq, "pg": pg, "P0": P0, "Q0": Q0}

        pn = pr["pf"] + A @ (pr["p0"] + dp - pg)
        qn = pr["qf"] + A @ (pr["q0"] + dq) - cp.multiply(net.shunt_q_pu, v)
        cons: dict[str, cp.Constraint] = {}
        obj = (cp.sum_squares(cp.multiply(pr["sb"], dp))
               + cp.sum_squares(cp.multiply(pr["sb"], dq))
               + cp.sum_squares(cp.multiply(pr["sa"], pg))
               + pr["c_imp"] * P0 + pr["c_q"] * Q0
               + cp.sum_squares(pr["sv"] * (v[1:] - 1.0)))
        pn, qn, obj = self.supply.build_grid_forming(pn, qn, obj, cons)
        self.supply.build_pcc(P0, Q0, cons)
        obj = flow.build(pn, qn, obj, cons)
        flow.root(pn, qn, P0, Q0, pr["v0"], self.slack, cons)
        self.lin_upper = flow.relaxed and self.cfg.linear_upper_voltage
        v_upper = (flow.lossless_voltage(pn, qn, pr["v0"], self.slack, cons)
                   if self.lin_upper else v)
        # soft voltage limits: the voltage-bound duals are capped at `voltage_slack_price`
        self.soft_v = self.cfg.voltage_slack_price > 0
        s_hi = cp.Variable(m, nonneg=True, name="s_hi") if self.soft_v else 0.0
        s_lo = cp.Variable(m, nonneg=True, name="s_lo") if self.soft_v else 0.0
        if self.soft_v:
            self.v.update({"s_hi": s_hi, "s_lo": s_lo})
            obj += self.cfg.voltage_slack_price * cp.sum(s_hi + s_lo)
        cons["vhi"] = v_upper[1:] <= pr["vhi"] + s_hi
        cons["vlo"] = v[1:] >= pr["vlo"] - s_lo
        cons["dp_lo"] = dp - pg >= pr["dp_lo"]
        cons["dp_hi"] = dp - pg <= pr["dp_hi"]
        cons["g"] = pg <= pr["gmax"]
        cons["dq_lo"] = dq >= pr["dq_lo"]
        cons["dq_hi"] = dq <= pr["dq_hi"]
        self.cons = cons
        self.problem = cp.Problem(cp.Minimize(obj), list(cons.values()))
        assert self.problem.is_dcp(dpp=True), "primary market problem must be DPP"
        self._set_static()

    def _set_static(self) -> None:
        net, cfg, pr = self.net, self.cfg, self.p
        pr["vlo"].value = np.full(net.m, cfg.v_min_pu ** 2)
        pr["vhi"].value = np.full(net.m, cfg.v_max_pu ** 2)
        gf = cfg.grid_forming
        pr["v0"].value = (gf.v_pu if self.island and gf is not None else net.v_source_pu) ** 2
        self.set_limits()
        self.flow.set_static(cfg.v_min_pu)
        self.set_weights()
        pr["pf"].value = net.load_p_pu.copy()
        pr["qf"].value = net.load_q_pu.copy()

    def set_limits(self) -> None:
        """(Re)apply the PCC import range and the grid-forming unit's limits from the config."""
        self.supply.set_limits()

    def set_taps(self, ratios: np.ndarray) -> None:
        """Regulator / transformer voltage ratios per branch (e.g. measured by the grid)."""
        self.flow.set_taps(ratios)

    def set_weights(self, xi: float | None = None, import_price: float | None = None) -> None:
        """(Re)apply objective weights, import price and loss penalty xi."""
        cfg, w = self.cfg, self.cfg.weights
        if xi is not None:
            cfg.xi = xi
        if import_price is not None:
            cfg.import_price = import_price
        S = self.net.s_base_kva
        self.p["c_imp"].value = w.generation * cfg.import_price
        self.p["c_q"].value = w.generation * cfg.import_price_q
        self.p["sv"].value = np.sqrt(w.voltage * cfg.voltage_cost / S)
        self.supply.set_costs()
        self.flow.set_loss_price(w.losses * cfg.xi,
                                 w.generation * self.supply.reference_price())

    def supply_cost(self, p_kw: float) -> float:
        """Cost [$/h] of supplying `p_kw` from the reference bus."""
        return self.supply.supply_cost(p_kw)

    # ------------------------------------------------------------------ solve
    def clear(self, bids: AgentBids, background: Background | None = None,
              decompose: bool = True, **solver_kw) -> ClearingResult:
        """Clear one period. `background` = non-market load per bus (default: the feeder's
        nominal loads, or the last background given)."""
        pr, w = self.p, self.cfg.weights
        S = self.net.s_base_kva
        if background is not None and background.p_kw is not None:
            pr["pf"].value = np.asarray(background.p_kw, dtype=float) / S
        if background is not None and background.q_kvar is not None:
            pr["qf"].value = np.asarray(background.q_kvar, dtype=float) / S
        pr["p0"].value = bids.p0 / S
        pr["q0"].value = bids.q0 / S
        pr["dp_lo"].value = np.minimum(bids.p_min - bids.p0, 0.0) / S
        pr["dp_hi"].value = np.maximum(bids.p_max - bids.p0, 0.0) / S
        pr["dq_lo"].value = np.minimum(bids.q_min - bids.q0, 0.0) / S
        pr["dq_hi"].value = np.maximum(bids.q_max - bids.q0, 0.0) / S
        pr["gmax"].value = np.maximum(bids.gen_max, 0.0) / S
        pr["sb"].value = np.sqrt(np.maximum(w.disutility * bids.beta, 0.0) * S)
        pr["sa"].value = np.sqrt(np.maximum(w.generation * bids.alpha, 0.0) * S / 2)
        t0 = time.perf_counter()
        opts = {"solver": cp.CLARABEL, "warm_start": True}
        opts.update(solver_kw)
        with warnings.catch_warnings():  # an inaccurate solve shows in `status`
            warnings.simplefilter("ignore", UserWarning)
            self._solve(opts)
        dt = time.perf_counter() - t0
        res = self._result(bids, dt, decompose)
        if self.cfg.solver != "central" and res.status.startswith("optimal"):
            from federates.market.distributed import clear_distributed

            res, self.last_pac = clear_distributed(
                self.net, self.agent_bus, self.cfg, bids, pr["pf"].value * S,
                pr["qf"].value * S, self.tap, res)
        return res

    def _solve(self, opts: dict) -> None:
        self.problem.solve(**opts)
        for _ in range(self.cfg.loss_iterations if not self.flow.relaxed else 0):
            if self.problem.status not in ("optimal", "optimal_inaccurate"):
                break
            if self.flow.update_losses():
                break
            self.problem.solve(**opts)

    # ------------------------------------------------------------------ outputs
    def _result(self, bids: AgentBids, dt: float, decompose: bool) -> ClearingResult:
        net, vv, cfg, flow = self.net, self.v, self.cfg, self.flow
        S = net.s_base_kva
        status = self.problem.status
        if status not in ("optimal", "optimal_inaccurate"):
            return failed_result(status, bids, self.agent_ids, net.buses, net.m, dt)
        P, Q, v = flow.P.value, flow.Q.value, np.maximum(flow.v.value, 1e-9)
        vpar = v[net.from_bus]
        l, l_true = flow.currents()
        gap_pu = vpar * l - (P ** 2 + Q ** 2)
        gap_kw = float(np.sum(net.r_bal_pu * (l - l_true)) * S)
        losses = float(net.r_bal_pu @ l * S)
        dp, dq, pg = vv["dp"].value, vv["dq"].value, vv["pg"].value
        p_load = bids.p0 + dp * S
        p_gen = pg * S
        p_net = p_load - p_gen
        q_net = bids.q0 + dq * S
        pcc_p, pcc_q = float(vv["P0"].value * S), float(vv["Q0"].value * S)
        gf = cfg.grid_forming
        gf_p, gf_q = self.supply.outputs()
        has_gf = "pgf" in self.supply.v
        costs = {
            "import": cfg.import_price * pcc_p,
            "generation": float(np.sum(0.5 * bids.alpha * p_gen ** 2)),
            "grid_forming": (gf.cost * gf_p + 0.5 * gf.alpha * gf_p ** 2) if has_gf and gf
            else 0.0,
            "disutility": float(np.sum(bids.beta * ((dp * S) ** 2 + (dq * S) ** 2))),
            "voltage": float(cfg.voltage_cost * np.sum((v[1:] - 1.0) ** 2)),
            "losses": cfg.xi * losses,
        }
        costs["total"] = (costs["import"] + costs["generation"] + costs["grid_forming"]
                          + costs["disutility"])
        lam = self._dual("bal_p", "bal0_p")
        mu = self._dual("bal_q", "bal0_q")
        lam_lin = np.zeros(net.n)
        mu_main = mu.copy()
        if self.lin_upper:  # load also enters the lossless balances of the voltage bound
            lam_lin[1:] = self.cons["bal_pl"].dual_value
            lam = lam + lam_lin
            mu[1:] = mu[1:] + self.cons["bal_ql"].dual_value
        comps: dict[str, np.ndarray] = {}
        resid = 0.0
        extra = {"v_violation_pu": self._violation()}
        if has_gf and gf is not None:
            extra["grid_forming_overload_kw"] = max(gf_p - gf.p_max_kw, 0.0)
        if decompose:
            comps, resid = self._decompose(P, Q, v, l, lam - lam_lin, mu_main)
            comps["voltage"] = comps["voltage"] + lam_lin
            resid = float(np.max(np.abs(sum(comps.values()) - lam)))
        return ClearingResult(
            status=status, agents=self.agent_ids, p_kw=p_net, q_kvar=q_net, p_load_kw=p_load,
            p_gen_kw=p_gen, buses=net.buses, v_pu=np.sqrt(v), pcc_p_kw=pcc_p,
            pcc_q_kvar=pcc_q, losses_kw=losses, dlmp=lam, dlmp_q=mu, components=comps,
            branch_p_kw=P * S, branch_q_kvar=Q * S, branch_i_pu=np.sqrt(l),
            gap_kw=gap_kw, gap_max_pu=float(np.max(gap_pu, initial=0.0)),
            exact=bool(gap_kw <= cfg.gap_tol_kw), costs=costs,
            objective=self._objective() * S, solve_time_s=dt,
            decomposition_residual=resid, extra=extra,
            grid_forming_p_kw=gf_p, grid_forming_q_kvar=gf_q,
        )

    def _violation(self) -> float:
        """Largest soft-limit violation in |V| [pu] (0 when the limits hold)."""
        if not self.soft_v:
            return 0.0
        vlo, vhi = self.p["vlo"].value, self.p["vhi"].value
        s_lo = np.maximum(self.v["s_lo"].value, 0.0)
        s_hi = np.maximum(self.v["s_hi"].value, 0.0)
        low = np.sqrt(vlo) - np.sqrt(np.maximum(vlo - s_lo, 0.0))
        high = np.sqrt(vhi + s_hi) - np.sqrt(vhi)
        return float(max(low.max(initial=0.0), high.max(initial=0.0)))

    def _objective(self) -> float:
        """Optimal objective [$/h / S_base]; LinDistFlow: without the double-counted losses
        (they are in P0 / P_F as the fixed estimate and in the quadratic proxy)."""
        val = float(self.problem.value)
        if not self.flow.relaxed:
            c_ref = self.cfg.weights.generation * self.supply.reference_price()
            val -= c_ref * self.flow.fixed_losses_pu()
        return val

    def _dual(self, name: str, name0: str) -> np.ndarray:
        # cvxpy: L = f + y * (lhs - rhs) for `lhs == rhs`; our balances read
        # load + outflow (+ losses) - inflow == 0, so y = d f* / d load = the dLMP.
        d = np.empty(self.net.n)
        d[1:] = self.cons[name].dual_value
        d[0] = float(np.ravel(self.cons[name0].dual_value)[0])
        return d

    def _decompose(self, P: np.ndarray, Q: np.ndarray, v: np.ndarray, l: np.ndarray,
                   lam: np.ndarray, mu: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
        cfg, w, m = self.cfg, self.cfg.weights, self.net.m
        lam_s, mu_s = self.supply.reference_duals(lam, mu)
        nu = -self.cons["vlo"].dual_value
        if not self.lin_upper:
            nu = nu + self.cons["vhi"].dual_value
        rho = self.cons["line"].dual_value if "line" in self.cons else np.zeros(m)
        flow = self.flow
        src = PriceSources(
            lam_s=lam_s, mu_s=mu_s, c_loss=w.losses * cfg.xi,
            loss_weight=None if flow.relaxed else flow.sr.value ** 2,
            sv2=float(self.p["sv"].value) ** 2, nu=nu,
            rho=np.asarray(rho, dtype=float).reshape(-1))
        return decompose(self.net, flow.tap, self.slack, flow.relaxed, P, Q, v, l, lam, src)
