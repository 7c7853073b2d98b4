"""The market's data as arrays: prosumers, unified costs (12)-(13) and network rows (7)-(8).

A network row r reads  g_r = sum_i GP[r,i] x_i + GQ[r,i] dQ_i  with x_i = dP_i for elastic
and the fixed dP^d_i for noncontrollable prosumers (their trade never enters the network).
Voltage rows carry an upper and a lower bound, current rows an upper bound only. Rows are
stored scaled (each divided by its largest |Gamma| when ``row_scaling``); ``row_scale`` turns
scaled multipliers back into $/MWh per p.u. or per A.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from federates.transactive.config import TransactiveConfig
from federates.transactive.prosumers import (
    PAPER_PROSUMERS,
    Prosumer,
    alpha_beta,
    bus_loads,
    paper_prosumers,
    trade_box,
)
from federates.transactive.sensitivity import (
    FeederSolver,
    OperatingPoint,
    Sensitivities,
    jacobian_sensitivities,
)


@dataclass(frozen=True)
class MarketCase:
    """One clearing's data (m prosumers, nv voltage rows, ni current rows)."""

    prosumers: list[Prosumer]
    alpha: np.ndarray
    beta: np.ndarray
    p_lo: np.ndarray
    p_hi: np.ndarray
    q_lo: np.ndarray
    q_hi: np.ndarray
    chi: np.ndarray
    is_ela: np.ndarray
    is_load: np.ndarray
    dpd: np.ndarray
    """Fixed deviation dP^d of noncontrollable prosumers (0 for elastic) [MWh]."""
    q_follows_trade: np.ndarray
    """Loads whose dQ = chi*dP (trade); other loads have dQ = chi*dP^d fixed."""
    v_gp: np.ndarray
    v_gq: np.ndarray
    v_hi: np.ndarray
    v_lo: np.ndarray
    v_scale: np.ndarray
    i_gp: np.ndarray
    i_gq: np.ndarray
    i_hi: np.ndarray
    i_scale: np.ndarray
    v_rows: list[str]
    i_rows: list[str]
    reserve_up: float
    reserve_down: float
    energy_price: float

    @property
    def m(self) -> int:
        return len(self.prosumers)

    @property
    def n_v(self) -> int:
        return len(self.v_rows)

    @property
    def n_i(self) -> int:
        return len(self.i_rows)

    def copper_plate(self) -> MarketCase:
        """The same prosumers with balance (6) only (no network rows)."""
        m = self.m
        empty = np.zeros((0, m))
        return replace(self, v_gp=empty, v_gq=empty, v_hi=np.zeros(0), v_lo=np.zeros(0),
                       v_scale=np.zeros(0), i_gp=empty, i_gq=empty, i_hi=np.zeros(0),
                       i_scale=np.zeros(0), v_rows=[], i_rows=[])

    def boosted(self, c: float) -> MarketCase:
        """Every current row multiplied by ``c`` (its multiplier divides by ``c``; same
        optimum). Voltage rows are left as they are."""
        if c == 1.0:
            return self
        return replace(self, i_gp=self.i_gp * c, i_gq=self.i_gq * c, i_hi=self.i_hi * c,
                       i_scale=self.i_scale / c)

    def x_network(self, p: np.ndarray) -> np.ndarray:
        """The active power each prosumer puts into the network rows."""
        return np.where(self.is_ela, p, self.dpd)

    def q_of(self, p: np.ndarray, q_gen: np.ndarray) -> np.ndarray:
        """dQ: chi*dP (or chi*dP^d) for loads, the generator's own dQ otherwise."""
        q_load = self.chi * np.where(self.q_follows_trade, p, self.dpd)
        return np.where(self.is_load, q_load, q_gen)


@dataclass(frozen=True)
class NetworkData:
    """Operating point and Gamma of the prosumers' buses (unscaled)."""

    point: OperatingPoint
    gamma: Sensitivities
    buses: list[str]
    branches: list[str]
    slack: int


def network_data(cfg: TransactiveConfig, prosumer_buses: list[str]) -> NetworkData:
    """Base AC point and Gamma (OpenDSS perturbation or Jacobian, decision 5)."""
    n = cfg.network
    solver = FeederSolver(n.feeder, n.source_v_pu, n.scheduled_dg_kw)
    point = solver.solve()
    if n.sensitivity == "opendss":
        gamma = solver.sensitivities(prosumer_buses, n.perturbation_kw)
    else:
        gamma = jacobian_sensitivities(solver.net, point, prosumer_buses,
                                       solver.feeder.base_kv_ll)
    net = solver.net
    return NetworkData(point, gamma, list(net.buses), list(net.branch_names),
                       int(net.bus_index[solver.feeder.source_bus]))


def _floor(gp: np.ndarray, gq: np.ndarray, rel: float) -> tuple[np.ndarray, np.ndarray]:
    """Zero the entries below ``rel`` times their row's largest |Gamma| (P and Q together)."""
    if rel <= 0 or gp.size == 0:
        return gp, gq
    big = np.maximum(np.abs(gp).max(axis=1), np.abs(gq).max(axis=1))[:, None]
    return (np.where(np.abs(gp) < rel * big, 0.0, gp),
            np.where(np.abs(gq) < rel * big, 0.0, gq))


def _scale(gp: np.ndarray, gq: np.ndarray, on: bool) -> np.ndarray:
    if not on or gp.size == 0:
        return np.ones(gp.shape[0])
    s = np.maximum(np.abs(gp).max(axis=1), np.abs(gq).max(axis=1))
    return np.where(s > 0, s, 1.0)


def build_case(cfg: TransactiveConfig, prosumers: list[Prosumer] | None = None,
               data: NetworkData | None = None) -> MarketCase:
    """The market case of ``cfg``; by default the paper's eight prosumers on case118zh."""
    import feeders

    if prosumers is None:
        feeder = feeders.load(cfg.network.feeder)
        prosumers = paper_prosumers(bus_loads(feeder), cfg.prices.energy,
                                    cfg.rules.interval_h, PAPER_PROSUMERS)
    if data is None:
        data = network_data(cfg, [p.bus for p in prosumers])
    h = cfg.rules.interval_h
    pr = cfg.prices
    alpha, beta = alpha_beta(prosumers, pr.reserve_up, pr.reserve_down)
    p_lo, p_hi = trade_box(prosumers, cfg.rules.two_sided_elastic)
    is_load = np.array([p.resource == "load" for p in prosumers])
    q_max = np.array([p.dq_max for p in prosumers])
    is_ela = np.array([p.kind == "ela" for p in prosumers])
    trade_q = is_ela | (cfg.rules.noncontrollable_load_q == "trade")
    # rows: non-slack bus voltages; branches with a finite current limit
    v_keep = np.array([k for k in range(len(data.buses)) if k != data.slack], dtype=int)
    v_gp = data.gamma.pv[v_keep] / h  # MWh per interval -> MW
    v_gq = data.gamma.qv[v_keep] / h
    v0 = data.point.v_pu[v_keep]
    margins = cfg.network.current_margin_a
    unknown = sorted(set(margins) - set(data.branches))
    if unknown:
        raise ValueError(f"network.current_margin_a: unknown branches {unknown}")
    i_keep = np.array([data.branches.index(b) for b in margins], dtype=int)
    i_gp = data.gamma.pi[i_keep] / h if len(i_keep) else np.zeros((0, len(prosumers)))
    i_gq = data.gamma.qi[i_keep] / h if len(i_keep) else np.zeros((0, len(prosumers)))
    i_hi = np.array([margins[b] for b in margins], dtype=float)
    v_gp, v_gq = _floor(v_gp, v_gq, cfg.network.gamma_floor)
    i_gp, i_gq = _floor(i_gp, i_gq, cfg.network.gamma_floor)
    vs = _scale(v_gp, v_gq, cfg.network.row_scaling)
    is_ = _scale(i_gp, i_gq, cfg.network.row_scaling)
    return MarketCase(
        prosumers=prosumers, alpha=alpha, beta=beta, p_lo=p_lo, p_hi=p_hi,
        q_lo=np.where(is_load, 0.0, -q_max), q_hi=np.where(is_load, 0.0, q_max),
        chi=np.array([p.chi for p in prosumers]), is_ela=is_ela, is_load=is_load,
        dpd=np.where(is_ela, 0.0, [p.dp for p in prosumers]),
        q_follows_trade=is_load & trade_q,
        v_gp=v_gp / vs[:, None], v_gq=v_gq / vs[:, None],
        v_hi=(cfg.network.v_max_pu - v0) / vs, v_lo=(cfg.network.v_min_pu - v0) / vs,
        v_scale=vs, i_gp=i_gp / is_[:, None], i_gq=i_gq / is_[:, None], i_hi=i_hi / is_,
        i_scale=is_, v_rows=[data.buses[k] for k in v_keep], i_rows=list(margins),
        reserve_up=pr.reserve_up, reserve_down=pr.reserve_down, energy_price=pr.energy)
