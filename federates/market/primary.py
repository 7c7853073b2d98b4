"""Primary market clearing: AC OPF on the feeder with dLMPs and their decomposition.

Branch-flow (DistFlow) model of the balanced single-phase equivalent (`network_model`),
with the second-order-cone relaxation `P^2 + Q^2 <= v l` (model "socp"), or the linearised
LinDistFlow with a fixed, iteratively updated loss estimate (model "lindistflow"). The
cvxpy problem is built once with Parameters (DPP) and re-solved with Clarabel each period.

Objective ($/h, seed eq. (1) with the multi-objective weights w1..w4):
    w1 * sum_i beta_i (P_Li - P_Li0)^2        disutility of the SMOs' flexible load
  + w2 * (sum_i 1/2 alpha_i P_Gi^2 + c * P_0)  local generation cost + PCC import cost
  + w3 * c_v * sum_j (v_j - 1)^2               voltage deviation (squared voltages)
  + w4 * xi * losses                           extra loss penalty
Agents (SMOs / primary market agents) sit at buses; a bid gives the baseline net load P0,
a net-load range [P_min, P_max] and upward generation headroom; every other bus carries
a fixed background load.

PCC import and islanded operation. The import P_0 may be bounded (`pcc_p_min_kw`,
`pcc_p_max_kw`). An optional grid-forming unit (`grid_forming`) is a dispatchable generator
at its bus: output P_F in [p_min, p_max] (soft upper limit priced at `overload_price`),
reactive output free or within +/- q_max, cost c P_F + 1/2 alpha P_F^2 (weighted by w2).
Islanded (`islanded`), the substation is open: P_0 = Q_0 = 0, the unit's bus becomes the
reference bus (its squared voltage is fixed at v_pu^2 instead of the substation's) and the
unit balances the island: P_F = loads + losses. The source bus is then an ordinary bus
without load or voltage limits (the grid shows it de-energised). With the source of the
island inside the feeder, the lossless upper bound of the voltage (`linear_upper_voltage`)
is exact below the unit and an approximation on the path from it to the source bus.

dLMPs are the duals of the bus active-power balances (marginal $/kWh of serving 1 kW more
at that bus). They are decomposed by superposition on the KKT stationarity system at the
optimum (linear in the multipliers): energy (the price at the reference bus: the PCC price,
plus the dual of a binding PCC bound; islanded, the grid-forming unit's marginal cost
including its capacity dual), losses (marginal losses valued at that price plus xi),
voltage (voltage-bound duals and voltage objective) and congestion (line-limit duals); the
four parts add up to the dLMP exactly.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from federates.market.config import PrimaryConfig
from federates.market.network_model import MarketNetwork

BIG_L = 1e4  # pu^2 stand-in for "no current limit"


@dataclass
class AgentBids:
    """Vectorised bids of the market agents, all in kW / kvar, load convention."""

    p0: np.ndarray
    p_min: np.ndarray
    p_max: np.ndarray
    q0: np.ndarray
    q_min: np.ndarray
    q_max: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    gen_max: np.ndarray

    @classmethod
    def fixed(cls, p0: np.ndarray, q0: np.ndarray | None = None, alpha: float = 0.0,
              beta: float = 0.0) -> AgentBids:
        p0 = np.asarray(p0, dtype=float)
        q0 = np.zeros_like(p0) if q0 is None else np.asarray(q0, dtype=float)
        z = np.zeros_like(p0)
        return cls(p0, p0.copy(), p0.copy(), q0, q0.copy(), q0.copy(), z + alpha, z + beta,
                   z.copy())

    @classmethod
    def flexible(cls, p0: np.ndarray, down: float | np.ndarray, up: float | np.ndarray = 0.0,
                 alpha: float | np.ndarray = 0.002, beta: float | np.ndarray = 0.004,
                 gen_max: float | np.ndarray = 0.0, q0: np.ndarray | None = None) -> AgentBids:
        """Bid around `p0` with `down`/`up` kW of flexibility (convenience for tests)."""
        p0 = np.asarray(p0, dtype=float)
        q0 = np.zeros_like(p0) if q0 is None else np.asarray(q0, dtype=float)
        one = np.ones_like(p0)
        return cls(p0, p0 - down * one, p0 + up * one, q0, q0.copy(), q0.copy(), alpha * one,
                   beta * one, gen_max * one)

    def __len__(self) -> int:
        return len(self.p0)


@dataclass
class ClearingResult:
    """Outcome of one primary clearing (kW, kvar, pu, $/h, $/kWh)."""

    status: str
    agents: list[str]
    p_kw: np.ndarray  # cleared net load per agent
    q_kvar: np.ndarray
    p_load_kw: np.ndarray
    p_gen_kw: np.ndarray  # extra local generation dispatched
    buses: list[str]
    v_pu: np.ndarray
    pcc_p_kw: float
    pcc_q_kvar: float
    losses_kw: float
    dlmp: np.ndarray  # $/kWh per bus
    dlmp_q: np.ndarray
    components: dict[str, np.ndarray]  # energy, losses, voltage, congestion per bus
    branch_p_kw: np.ndarray
    branch_q_kvar: np.ndarray
    branch_i_pu: np.ndarray
    gap_kw: float  # fictitious losses of the relaxation
    gap_max_pu: float  # max v*l - (P^2+Q^2)
    exact: bool
    costs: dict[str, float]  # $/h: import, generation, disutility, voltage, losses, total
    objective: float
    solve_time_s: float
    decomposition_residual: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
    grid_forming_p_kw: float = 0.0  # output of the grid-forming unit (0 without one)
    grid_forming_q_kvar: float = 0.0


class PrimaryMarket:
    """Parametric OPF of the primary market; build once, `clear()` every period."""

    def __init__(self, net: MarketNetwork, agent_buses: list[str],
                 config: PrimaryConfig | None = None, agent_ids: list[str] | None = None):
        self.net = net
        self.cfg = config or PrimaryConfig()
        self.lin = self.cfg.model == "lindistflow"
        self.agent_ids = list(agent_ids or agent_buses)
        self.agent_bus = np.array([net.bus_index[b] for b in agent_buses], dtype=int)
        gf = self.cfg.grid_forming
        self.gf_bus: int | None = self._grid_forming_bus(gf.bus) if gf is not None else None
        self.island = self.cfg.islanded
        # reference bus: fixed voltage, price source of the dLMP decomposition
        self.slack = self.gf_bus if self.island and self.gf_bus is not None else 0
        self._build()

    def _grid_forming_bus(self, name: str) -> int:
        net = self.net
        if name:
            if name not in net.bus_index:
                raise ValueError(f"primary.grid_forming.bus: {name!r} is not a bus of the "
                                 f"market network (first buses: {net.buses[:5]})")
            return net.bus_index[name]
        first = np.flatnonzero(net.parent == 0)
        return int(first[0]) + 1 if len(first) == 1 else 0

    @property
    def grid_forming_bus(self) -> str | None:
        """Name of the grid-forming unit's bus (None without one)."""
        return None if self.gf_bus is None else self.net.buses[self.gf_bus]

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        net, n, m, a = self.net, self.net.n, self.net.m, len(self.agent_bus)
        par = net.parent
        ch = sp.csr_matrix(net.children_matrix())  # n x m
        A = sp.csr_matrix((np.ones(a), (self.agent_bus, np.arange(a))), shape=(n, a))
        self._A = A
        r, x = net.r, net.x
        z2 = r ** 2 + x ** 2

        self.p = {
            "pf": cp.Parameter(n, name="pf"), "qf": cp.Parameter(n, name="qf"),
            "p0": cp.Parameter(a), "q0": cp.Parameter(a),
            "dp_lo": cp.Parameter(a), "dp_hi": cp.Parameter(a),
            "dq_lo": cp.Parameter(a), "dq_hi": cp.Parameter(a),
            "gmax": cp.Parameter(a, nonneg=True),
            "sb": cp.Parameter(a, nonneg=True), "sa": cp.Parameter(a, nonneg=True),
            "c_imp": cp.Parameter(), "c_q": cp.Parameter(),
            "c_loss": cp.Parameter(nonneg=True), "sv": cp.Parameter(nonneg=True),
            "vlo": cp.Parameter(m), "vhi": cp.Parameter(m), "v0": cp.Parameter(nonneg=True),
            "lmax": cp.Parameter(m, nonneg=True), "t2": cp.Parameter(m, nonneg=True),
        }
        pr = self.p
        t2 = pr["t2"]
        dp, dq = cp.Variable(a, name="dp"), cp.Variable(a, name="dq")
        pg = cp.Variable(a, nonneg=True, name="pg")
        P, Q, v = cp.Variable(m, name="P"), cp.Variable(m, name="Q"), cp.Variable(n, name="v")
        P0, Q0 = cp.Variable(name="P0"), cp.Variable(name="Q0")
        self.v = {"dp": dp, "dq": dq, "pg": pg, "P": P, "Q": Q, "v": v, "P0": P0, "Q0": Q0}

        pn = pr["pf"] + A @ (pr["p0"] + dp - pg)
        qn = pr["qf"] + A @ (pr["q0"] + dq) - cp.multiply(net.shunt_q, v)
        cons: dict[str, cp.Constraint] = {}
        obj = (cp.sum_squares(cp.multiply(pr["sb"], dp))
               + cp.sum_squares(cp.multiply(pr["sb"], dq))
               + cp.sum_squares(cp.multiply(pr["sa"], pg))
               + pr["c_imp"] * P0 + pr["c_q"] * Q0
               + cp.sum_squares(pr["sv"] * (v[1:] - 1.0)))
        if self.gf_bus is not None:
            pn, qn, obj = self._build_grid_forming(pn, qn, obj, cons)
        self._build_pcc(P0, Q0, cons)
        if self.lin:
            lh = cp.Parameter(m, nonneg=True, name="lhat")
            pr["lhat"] = lh
            # loss proxy (c_loss + c_imp) * r (P^2 + Q^2) / v_i, with v_i from the last solve
            sr = cp.Parameter(m, nonneg=True, name="sqrt_loss_weight")
            pr["sr"] = sr
            obj += cp.sum_squares(cp.multiply(sr, P)) + cp.sum_squares(cp.multiply(sr, Q))
            cons["bal_p"] = pn[1:] + ch[1:] @ P + cp.multiply(r, lh) - P == 0
            cons["bal_q"] = qn[1:] + ch[1:] @ Q + cp.multiply(x, lh) - Q == 0
            pr["lz"] = cp.Parameter(m, name="tap2_z2_lhat")  # t^2 z^2 lhat
            cons["volt"] = v[1:] - cp.multiply(t2, v[par] - 2 * (cp.multiply(r, P) + cp.multiply(
                x, Q))) - pr["lz"] == 0
            if self.cfg.line_limits:
                pr["smax2"] = cp.Parameter(m, nonneg=True, name="smax2")
                cons["line"] = cp.square(P) + cp.square(Q) <= pr["smax2"]
        else:
            l = cp.Variable(m, nonneg=True, name="l")
            self.v["l"] = l
            obj += pr["c_loss"] * (r @ l)
            cons["bal_p"] = pn[1:] + ch[1:] @ P + cp.multiply(r, l) - P == 0
            cons["bal_q"] = qn[1:] + ch[1:] @ Q + cp.multiply(x, l) - Q == 0
            cons["volt"] = v[1:] - cp.multiply(t2, v[par] - 2 * (cp.multiply(r, P) + cp.multiply(
                x, Q)) + cp.multiply(z2, l)) == 0
            cons["soc"] = cp.SOC(v[par] + l, cp.vstack([2 * P, 2 * Q, v[par] - l]), axis=0)
            if self.cfg.line_limits:
                cons["line"] = l <= pr["lmax"]
        cons["bal0_p"] = pn[0] + ch[0] @ P - P0 == 0
        cons["bal0_q"] = qn[0] + ch[0] @ Q - Q0 == 0
        cons["v0"] = v[self.slack] == pr["v0"]
        self.lin_upper = (not self.lin) and self.cfg.linear_upper_voltage
        if self.lin_upper:
            # Gan-Li-Topcu-Low: bound the lossless (LinDistFlow) voltage, an upper bound of
            # the DistFlow voltage, so fictitious losses cannot buy a lower voltage
            Pl, Ql, vl = cp.Variable(m, name="Pl"), cp.Variable(m, name="Ql"), cp.Variable(n)
            self.v.update({"Pl": Pl, "Ql": Ql, "vl": vl})
            cons["bal_pl"] = pn[1:] + ch[1:] @ Pl - Pl == 0
            cons["bal_ql"] = qn[1:] + ch[1:] @ Ql - Ql == 0
            cons["vl0"] = vl[self.slack] == pr["v0"]
            cons["vlin"] = vl[1:] - cp.multiply(t2, vl[par] - 2 * (
                cp.multiply(r, Pl) + cp.multiply(x, Ql))) == 0
        # soft voltage limits: the voltage-bound duals are capped at `voltage_slack_price`
        self.soft_v = self.cfg.voltage_slack_price > 0
        s_hi = cp.Variable(m, nonneg=True, name="s_hi") if self.soft_v else 0.0
        s_lo = cp.Variable(m, nonneg=True, name="s_lo") if self.soft_v else 0.0
        if self.soft_v:
            self.v.update({"s_hi": s_hi, "s_lo": s_lo})
            obj += self.cfg.voltage_slack_price * cp.sum(s_hi + s_lo)
        if self.lin_upper:
            cons["vhi"] = vl[1:] <= pr["vhi"] + s_hi
        else:
            cons["vhi"] = v[1:] <= pr["vhi"] + s_hi
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

    def _build_grid_forming(self, pn: cp.Expression, qn: cp.Expression, obj: cp.Expression,
                            cons: dict[str, cp.Constraint]) -> tuple:
        """Grid-forming unit at `gf_bus`: output variables, limits and cost."""
        gf, pr, n = self.cfg.grid_forming, self.p, self.net.n
        assert gf is not None and self.gf_bus is not None
        G = sp.csr_matrix(([1.0], ([self.gf_bus], [0])), shape=(n, 1))
        pf, qf = cp.Variable(1, name="p_gf"), cp.Variable(1, name="q_gf")
        self.v.update({"pgf": pf, "qgf": qf})
        pr.update({"c_gf": cp.Parameter(name="c_gf"),
                   "sa_gf": cp.Parameter(nonneg=True, name="sa_gf"),
                   "gf_lo": cp.Parameter(name="gf_lo"), "gf_hi": cp.Parameter(name="gf_hi")})
        obj = obj + pr["c_gf"] * cp.sum(pf) + cp.sum_squares(pr["sa_gf"] * pf)
        cons["gf_lo"] = pf >= pr["gf_lo"]
        if gf.overload_price > 0:
            over = cp.Variable(1, nonneg=True, name="gf_overload")
            self.v["gf_over"] = over
            obj = obj + gf.overload_price * cp.sum(over)
            cons["gf_hi"] = pf <= pr["gf_hi"] + over
        else:
            cons["gf_hi"] = pf <= pr["gf_hi"]
        if gf.q_max_kvar is not None:
            pr["gf_q"] = cp.Parameter(nonneg=True, name="gf_q")
            cons["gf_q_lo"] = qf >= -pr["gf_q"]
            cons["gf_q_hi"] = qf <= pr["gf_q"]
        return pn - G @ pf, qn - G @ qf, obj

    def _build_pcc(self, P0: cp.Variable, Q0: cp.Variable,
                   cons: dict[str, cp.Constraint]) -> None:
        """PCC import: 0 when islanded, else within the optional configured range."""
        cfg, pr = self.cfg, self.p
        if self.island:
            cons["pcc_p"] = P0 == 0
            cons["pcc_q"] = Q0 == 0
            return
        if cfg.pcc_p_min_kw is not None:
            pr["pcc_lo"] = cp.Parameter(name="pcc_lo")
            cons["pcc_lo"] = P0 >= pr["pcc_lo"]
        if cfg.pcc_p_max_kw is not None:
            pr["pcc_hi"] = cp.Parameter(name="pcc_hi")
            cons["pcc_hi"] = P0 <= pr["pcc_hi"]

    def _set_static(self) -> None:
        net, cfg = self.net, self.cfg
        pr = self.p
        self._vpar = np.ones(net.m)
        vlo, vhi = cfg.v_min_pu ** 2, cfg.v_max_pu ** 2
        pr["vlo"].value = np.full(net.m, vlo)
        pr["vhi"].value = np.full(net.m, vhi)
        gf = cfg.grid_forming
        pr["v0"].value = (gf.v_pu if self.island and gf is not None else net.v_source_pu) ** 2
        self.set_limits()
        pr["t2"].value = net.tap ** 2
        imax = np.where(np.isfinite(net.i_max), net.i_max, np.sqrt(BIG_L))
        pr["lmax"].value = np.minimum(imax ** 2, BIG_L) if cfg.line_limits else np.full(
            net.m, BIG_L)
        if "smax2" in pr:  # LinDistFlow: |S|^2 <= I_max^2 v_min
            pr["smax2"].value = pr["lmax"].value * vlo
        self.set_weights()
        pr["pf"].value = net.load_p.copy()
        pr["qf"].value = net.load_q.copy()
        if self.lin:
            self._set_lhat(np.zeros(net.m))

    def set_limits(self) -> None:
        """(Re)apply the PCC import range and the grid-forming unit's limits from the config."""
        cfg, pr, S = self.cfg, self.p, self.net.s_base_kva
        if "pcc_lo" in pr:
            pr["pcc_lo"].value = cfg.pcc_p_min_kw / S
        if "pcc_hi" in pr:
            pr["pcc_hi"].value = cfg.pcc_p_max_kw / S
        gf = cfg.grid_forming
        if self.gf_bus is not None and gf is not None:
            pr["gf_lo"].value = gf.p_min_kw / S
            pr["gf_hi"].value = gf.p_max_kw / S
            if "gf_q" in pr:
                pr["gf_q"].value = gf.q_max_kvar / S

    def set_taps(self, ratios: np.ndarray) -> None:
        """Regulator / transformer voltage ratios per branch (e.g. measured by the grid)."""
        self.net.tap = np.asarray(ratios, dtype=float).copy()
        self.p["t2"].value = self.net.tap ** 2
        if self.lin:
            self._set_lhat(self.p["lhat"].value)

    def _set_lhat(self, lhat: np.ndarray) -> None:
        net = self.net
        self.p["lhat"].value = lhat
        self.p["lz"].value = net.tap ** 2 * (net.r ** 2 + net.x ** 2) * lhat

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
        self.p["c_loss"].value = w.losses * cfg.xi
        self.p["sv"].value = np.sqrt(w.voltage * cfg.voltage_cost / S)
        if self.gf_bus is not None and cfg.grid_forming is not None:
            self.p["c_gf"].value = w.generation * cfg.grid_forming.cost
            self.p["sa_gf"].value = np.sqrt(w.generation * cfg.grid_forming.alpha * S / 2)
        if self.lin:
            self._set_loss_weight()

    def _reference_price(self) -> float:
        """Unweighted energy price at the reference bus: PCC price, or islanded the
        grid-forming unit's linear cost [$/kWh] (LinDistFlow loss valuation)."""
        gf = self.cfg.grid_forming
        return gf.cost if self.island and gf is not None else self.cfg.import_price

    def supply_cost(self, p_kw: float) -> float:
        """Cost [$/h] of supplying `p_kw` from the reference: import at the PCC price, or
        islanded the grid-forming unit's cost."""
        gf = self.cfg.grid_forming
        if self.island and gf is not None:
            return gf.cost * p_kw + 0.5 * gf.alpha * p_kw ** 2
        return self.cfg.import_price * p_kw

    def _set_loss_weight(self) -> None:
        lm = max(self.cfg.weights.losses * self.cfg.xi
                 + self.cfg.weights.generation * self._reference_price(), 0.0)
        self.p["sr"].value = np.sqrt(lm * self.net.r / self._vpar)

    # ------------------------------------------------------------------ solve
    def clear(self, bids: AgentBids, fixed_p_kw: np.ndarray | None = None,
              fixed_q_kvar: np.ndarray | None = None, decompose: bool = True,
              **solver_kw) -> ClearingResult:
        """Clear one period. `fixed_*` = non-market load per bus (default: feeder loads)."""
        net, pr, w = self.net, self.p, self.cfg.weights
        S = net.s_base_kva
        if fixed_p_kw is not None:
            pr["pf"].value = np.asarray(fixed_p_kw, dtype=float) / S
        if fixed_q_kvar is not None:
            pr["qf"].value = np.asarray(fixed_q_kvar, dtype=float) / S
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
        return self._result(bids, dt, decompose)

    def _solve(self, opts: dict) -> None:
        net, pr = self.net, self.p
        self.problem.solve(**opts)
        if self.lin:
            for _ in range(self.cfg.loss_iterations):
                if self.problem.status not in ("optimal", "optimal_inaccurate"):
                    break
                vv = self.v
                vpar = np.maximum(vv["v"].value[net.parent], 0.5)
                lhat = (vv["P"].value ** 2 + vv["Q"].value ** 2) / vpar
                old = float(net.r @ pr["lhat"].value)
                converged = abs(float(net.r @ lhat) - old) <= self.cfg.loss_tol * max(old, 1e-9)
                self._set_lhat(lhat)
                self._vpar = vpar
                self._set_loss_weight()
                if converged:
                    break
                self.problem.solve(**opts)

    # ------------------------------------------------------------------ outputs
    def _result(self, bids: AgentBids, dt: float, decompose: bool) -> ClearingResult:
        net, pr, vv, cfg = self.net, self.p, self.v, self.cfg
        S = net.s_base_kva
        status = self.problem.status
        if status not in ("optimal", "optimal_inaccurate"):
            return self._failed(status, bids, dt)
        P, Q, v = vv["P"].value, vv["Q"].value, np.maximum(vv["v"].value, 1e-9)
        vpar = v[net.parent]
        if self.lin:
            l = pr["lhat"].value.copy()
            l_true = l
        else:
            l = np.maximum(vv["l"].value, 0.0)
            l_true = (P ** 2 + Q ** 2) / vpar
        gap_pu = vpar * l - (P ** 2 + Q ** 2)
        gap_kw = float(np.sum(net.r * (l - l_true)) * S)
        losses = float(net.r @ l * S)
        dp, dq, pg = vv["dp"].value, vv["dq"].value, vv["pg"].value
        p_load = bids.p0 + dp * S
        p_gen = pg * S
        p_net = p_load - p_gen
        q_net = bids.q0 + dq * S
        pcc_p, pcc_q = float(vv["P0"].value * S), float(vv["Q0"].value * S)
        gf = cfg.grid_forming
        gf_p = float(vv["pgf"].value[0] * S) if "pgf" in vv else 0.0
        gf_q = float(vv["qgf"].value[0] * S) if "qgf" in vv else 0.0
        costs = {
            "import": cfg.import_price * pcc_p,
            "generation": float(np.sum(0.5 * bids.alpha * p_gen ** 2)),
            "grid_forming": (gf.cost * gf_p + 0.5 * gf.alpha * gf_p ** 2) if "pgf" in vv
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
        if "pgf" in vv:
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
        """Optimal objective [$/h / S_base]; LinDistFlow: without the double-counted losses."""
        val = float(self.problem.value)
        if self.lin:  # losses are in P0 / P_F (fixed estimate) and in the quadratic proxy
            c_ref = self.cfg.weights.generation * self._reference_price()
            val -= c_ref * float(self.net.r @ self.p["lhat"].value)
        return val

    def _dual(self, name: str, name0: str) -> np.ndarray:
        # cvxpy: L = f + y * (lhs - rhs) for `lhs == rhs`; our balances read
        # load + outflow (+ losses) - inflow == 0, so y = d f* / d load = the dLMP.
        d = np.empty(self.net.n)
        d[1:] = self.cons[name].dual_value
        d[0] = float(np.ravel(self.cons[name0].dual_value)[0])
        return d

    def _failed(self, status: str, bids: AgentBids, dt: float) -> ClearingResult:
        net = self.net
        nan_n = np.full(net.n, np.nan)
        return ClearingResult(
            status=status, agents=self.agent_ids, p_kw=bids.p0.copy(), q_kvar=bids.q0.copy(),
            p_load_kw=bids.p0.copy(), p_gen_kw=np.zeros(len(bids)), buses=net.buses,
            v_pu=nan_n, pcc_p_kw=float("nan"), pcc_q_kvar=float("nan"),
            losses_kw=float("nan"), dlmp=nan_n.copy(), dlmp_q=nan_n.copy(), components={},
            branch_p_kw=np.full(net.m, np.nan), branch_q_kvar=np.full(net.m, np.nan),
            branch_i_pu=np.full(net.m, np.nan), gap_kw=float("nan"), gap_max_pu=float("nan"),
            exact=False, costs={k: float("nan") for k in (
                "import", "generation", "grid_forming", "disutility", "voltage", "losses",
                "total")},
            objective=float("nan"), solve_time_s=dt, grid_forming_p_kw=float("nan"),
            grid_forming_q_kvar=float("nan"),
        )

    # ------------------------------------------------------------------ price decomposition
    def _reference_duals(self, lam: np.ndarray, mu: np.ndarray) -> tuple[float, float]:
        """(P, Q) prices at the reference bus: the PCC prices when the import is free, else
        the balance duals there (PCC bound or grid-forming unit's marginal cost)."""
        cfg, w = self.cfg, self.cfg.weights
        if not self.island and "pcc_lo" not in self.cons and "pcc_hi" not in self.cons:
            return w.generation * cfg.import_price, w.generation * cfg.import_price_q
        return float(lam[self.slack]), float(mu[self.slack])

    def _decompose(self, P: np.ndarray, Q: np.ndarray, v: np.ndarray, l: np.ndarray,
                   lam: np.ndarray, mu: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
        """Split the dLMPs by superposition on the KKT stationarity system (see module doc).

        Lagrangian: f + sum_j lam_j (p_j + sum_ch P_c + r_j l_j - P_j) + (same, mu, Q)
          + sum_j eta_j (v_j - t_j^2 (v_i - 2 (r P_j + x Q_j) + z_j^2 l_j))
          + sum_j kap_j (P_j^2 + Q_j^2 - v_i l_j) + rho_j (l_j - lmax_j) + nu (v bounds).
        Stationarity in (P_j, Q_j, l_j) and in v_j of every bus but the reference bus s
        (whose voltage is fixed) is linear in (lam, mu, eta, kap) of every bus but s; the
        known terms (prices at s, loss costs, voltage terms, line-limit duals) are the
        sources. `lam`, `mu`: duals of the (lossy) balances, for the prices at s.
        """
        net, cfg, w, pr = self.net, self.cfg, self.cfg.weights, self.p
        n, m, par, s = net.n, net.m, net.parent, self.slack
        r, x, t2 = net.r, net.x, net.tap ** 2
        z2 = r ** 2 + x ** 2
        vpar = v[par]
        lam_s, mu_s = self._reference_duals(lam, mu)
        c_loss = w.losses * cfg.xi
        sv2 = float(pr["sv"].value) ** 2
        nu = -self.cons["vlo"].dual_value
        if not self.lin_upper:
            nu = nu + self.cons["vhi"].dual_value
        rho = self.cons["line"].dual_value if "line" in self.cons else np.zeros(m)
        rho = np.asarray(rho, dtype=float).reshape(-1)
        # unknown blocks lam (0), mu (1), eta (2), kap (3) of size m each; lam and mu of bus
        # j != s at pos[j], eta / kap of branch k at k; v-equation of bus j != s at row pos[j]
        pos = np.full(n, -1)
        others = np.array([j for j in range(n) if j != s], dtype=int)
        pos[others] = np.arange(m)
        nb = 3 if self.lin else 4
        N = nb * m
        # the triplets of K, assembled per equation block over all branches / buses at once
        # (K has no duplicate entries, so its CSC form does not depend on their order)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        known = np.zeros(N)  # terms of the reference-bus prices (the "energy" source)

        def add(r_: np.ndarray, c_: np.ndarray, v_: np.ndarray | float) -> None:
            rows.append(r_)
            cols.append(c_)
            vals.append(np.broadcast_to(np.asarray(v_, dtype=float), r_.shape))

        def price(row: np.ndarray, blk: int, bus: np.ndarray, coef: np.ndarray) -> None:
            at_s = bus == s  # rows are distinct within a call
            known[row[at_s]] += coef[at_s] * (lam_s if blk == 0 else mu_s)
            add(row[~at_s], blk * m + pos[bus[~at_s]], coef[~at_s])

        br = np.arange(m)  # branch k ends at bus k + 1, its parent is par[k]
        ones = np.ones(m)
        # eq block 0: dL/dP_k = gP_k + lam_i - lam_j + 2 t2 r eta_k + 2 kap_k P_k = 0
        # eq block 1: dL/dQ_k = gQ_k + mu_i - mu_j + 2 t2 x eta_k + 2 kap_k Q_k = 0
        for blk, (coef_eta, var_kap) in enumerate(((r, P), (x, Q))):
            row = blk * m + br
            price(row, blk, br + 1, -ones)
            price(row, blk, par, ones)
            add(row, 2 * m + br, 2 * t2 * coef_eta)
            if not self.lin:
                add(row, 3 * m + br, 2 * var_kap)
        # eq block 2: dL/dv_j = gv_j + eta_j - sum_ch t2_c eta_c - sum_ch kap_c l_c - B_j mu_j
        #   + nu_j = 0, for every bus j != s (bus 0 has no eta, voltage cost or bounds)
        row = 2 * m + pos[others]
        up = others > 0
        add(row[up], 2 * m + others[up] - 1, 1.0)
        cap = net.shunt_q[others] != 0  # capacitor: mu_j * (-B_j v_j) in the Q balance
        add(row[cap], m + pos[others[cap]], -net.shunt_q[others[cap]])
        ch = par != s
        add(2 * m + pos[par[ch]], 2 * m + br[ch], -t2[ch])
        if not self.lin:
            add(2 * m + pos[par[ch]], 3 * m + br[ch], -l[ch])
        # eq block 3 (socp): dL/dl_k = gl_k + r lam_j + x mu_j - t2 z2 eta_k - kap_k v_i + rho
        if not self.lin:
            row = 3 * m + br
            price(row, 0, br + 1, r)
            price(row, 1, br + 1, x)
            add(row, 2 * m + br, -t2 * z2)
            add(row, 3 * m + br, -vpar)
        rows_, cols_, vals_ = (np.concatenate(a) for a in (rows, cols, vals))
        K = sp.csc_matrix((vals_, (rows_, cols_)), shape=(N, N))
        lu = spla.splu(K)
        vrow = 2 * m + pos[others[others > 0]]

        def source(kind: str) -> np.ndarray:
            b = np.zeros(N)  # K y + b = 0
            if kind == "energy":
                b += known
            elif kind == "losses":
                if self.lin:
                    rv = pr["sr"].value ** 2
                    b[:m] += 2 * rv * P
                    b[m:2 * m] += 2 * rv * Q
                else:
                    b[3 * m:] += c_loss * r
            elif kind == "voltage":
                jj = others[others > 0]
                b[vrow] += 2 * sv2 * (v[jj] - 1.0) + nu[jj - 1]
            elif kind == "congestion":
                if self.lin:
                    b[:m] += 2 * rho * P
                    b[m:2 * m] += 2 * rho * Q
                else:
                    b[3 * m:] += rho
            return lu.solve(-b)

        comps = {}
        for kind in ("energy", "losses", "voltage", "congestion"):
            y = source(kind)
            comp = np.empty(n)
            comp[others] = y[:m]
            comp[s] = lam_s if kind == "energy" else 0.0
            comps[kind] = comp
        # marginal losses bought at the reference bus belong to the loss component
        comps["losses"] = comps["losses"] + (comps["energy"] - lam_s)
        comps["energy"] = np.full(n, lam_s)
        total = sum(comps.values())
        resid = float(np.max(np.abs(total - lam)))
        return comps, resid
