"""PCC import and the grid-forming unit of the primary OPF (grid-connected or islanded).

The import P_0 may be bounded (`pcc_p_min_kw`, `pcc_p_max_kw`). An optional grid-forming
unit (`grid_forming`) is a dispatchable generator at its bus: output P_F in [p_min, p_max]
(soft upper limit priced at `overload_price`), reactive output free or within +/- q_max,
cost c P_F + 1/2 alpha P_F^2 (weighted by w2). Islanded (`islanded`), the substation is
open: P_0 = Q_0 = 0, the unit's bus becomes the reference bus (its squared voltage is fixed
at v_pu^2 instead of the substation's) and the unit balances the island.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from federates.market.config import PrimaryConfig
from feeders.network import Network


def grid_forming_bus(net: Network, name: str) -> int:
    """Index of the unit's bus; '' = the bus fed by the source's only branch, else 0."""
    if name:
        if name not in net.bus_index:
            raise ValueError(f"primary.grid_forming.bus: {name!r} is not a bus of the "
                             f"market network (first buses: {net.buses[:5]})")
        return net.bus_index[name]
    first = np.flatnonzero(net.from_bus == 0)
    return int(first[0]) + 1 if len(first) == 1 else 0


class SupplySide:
    """Variables, parameters and constraints of the PCC and the grid-forming unit."""

    def __init__(self, net: Network, cfg: PrimaryConfig):
        self.net, self.cfg = net, cfg
        gf = cfg.grid_forming
        self.gf_bus: int | None = grid_forming_bus(net, gf.bus) if gf is not None else None
        self.island = cfg.islanded
        # reference bus: fixed voltage, price source of the dLMP decomposition
        self.slack = self.gf_bus if self.island and self.gf_bus is not None else 0
        self.p: dict[str, cp.Parameter] = {}
        self.v: dict[str, cp.Variable] = {}

    @property
    def pcc_bounded(self) -> bool:
        return "pcc_lo" in self.p or "pcc_hi" in self.p

    def build_grid_forming(self, pn: cp.Expression, qn: cp.Expression, obj: cp.Expression,
                           cons: dict[str, cp.Constraint]) -> tuple:
        """The unit's output, limits and cost; returns (pn, qn, obj) with them added."""
        if self.gf_bus is None:
            return pn, qn, obj
        gf, pr, n = self.cfg.grid_forming, self.p, self.net.n
        assert gf is not None
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

    def build_pcc(self, P0: cp.Variable, Q0: cp.Variable,
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

    def set_limits(self) -> None:
        """(Re)apply the PCC import range and the grid-forming unit's limits."""
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

    def set_costs(self) -> None:
        """(Re)apply the unit's weighted cost coefficients."""
        cfg, S = self.cfg, self.net.s_base_kva
        if self.gf_bus is not None and cfg.grid_forming is not None:
            w = cfg.weights.generation
            self.p["c_gf"].value = w * cfg.grid_forming.cost
            self.p["sa_gf"].value = np.sqrt(w * cfg.grid_forming.alpha * S / 2)

    def reference_price(self) -> float:
        """Unweighted energy price at the reference bus: PCC price, or islanded the unit's
        linear cost [$/kWh] (LinDistFlow loss valuation)."""
        gf = self.cfg.grid_forming
        return gf.cost if self.island and gf is not None else self.cfg.import_price

    def supply_cost(self, p_kw: float) -> float:
        """Cost [$/h] of supplying `p_kw` from the reference: import at the PCC price, or
        islanded the grid-forming unit's cost."""
        gf = self.cfg.grid_forming
        if self.island and gf is not None:
            return gf.cost * p_kw + 0.5 * gf.alpha * p_kw ** 2
        return self.cfg.import_price * p_kw

    def reference_duals(self, lam: np.ndarray, mu: np.ndarray) -> tuple[float, float]:
        """(P, Q) prices at the reference bus: the PCC prices when the import is free, else
        the balance duals there (PCC bound or grid-forming unit's marginal cost)."""
        cfg, w = self.cfg, self.cfg.weights
        if not self.island and not self.pcc_bounded:
            return w.generation * cfg.import_price, w.generation * cfg.import_price_q
        return float(lam[self.slack]), float(mu[self.slack])

    def outputs(self) -> tuple[float, float]:
        """(P kW, Q kvar) of the unit in the last solve (0, 0 without one)."""
        S = self.net.s_base_kva
        if "pgf" not in self.v:
            return 0.0, 0.0
        return float(self.v["pgf"].value[0] * S), float(self.v["qgf"].value[0] * S)
