"""Flexibility-coordinated dispatch of one day (spec A.4) as a convex QP on a linear network.

The network enters through a :class:`~.lindistflow.Sensitivity` around a reference operating
point measured in OpenDSS (voltages, loadings and branch powers at a reference dispatch), so
``V = V_ref + dV/dp (p - p_ref)``: the three-phase solution supplies the point, the linear
model only the changes. Devices (per bus, identical units aggregated):
- PV: curtailment 0 <= c <= available, reactive power |q| <= (available - c) tan(acos pf);
  curtailed energy <= ``curtail_max`` of the available energy (the dynamic HC's cap);
- batteries: |P| <= rated, SOC(t+1) = SOC(t) - P dt eta / E in [soc_min, soc_max],
  SOC(0) = SOC(T) = soc_init;
- EVs: P = 0 while away, V1G P <= 0 (V2G either sign), SOC = soc_init on arrival,
  SOC cyclic over the day, soft departure target (beta_ev2);
- heat pumps (cooling): 0 <= consumption <= rated, indoor temperature per unit
  T' = theta T + (1 - theta)(T_out - rho c), T(0) = T*, T within T* +- band.
Objective (spec A.4; powers in MW): beta_pv curtailment^2 + beta_loss r F^2 + beta_coupl
alpha (P_bs + P_ev) + beta_T (T - T*)^2 + beta_ramp (ramps^2) + beta_ev2 (SOC_dep - target)^2
+ price * PCC import. Inverter reactive power of batteries and EVs is not used (PV only).
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from runner.studies.hosting_capacity.config import Config
from runner.studies.hosting_capacity.devices import ev_home, thermal_coefficients
from runner.studies.hosting_capacity.dss_check import DayResult, Limits
from runner.studies.hosting_capacity.lindistflow import Sensitivity
from runner.studies.hosting_capacity.placement import Placement
from runner.studies.hosting_capacity.profiles import Day

MIN_LOADING_PCT = 2.0  # below this the reference loading cannot scale a rating
VERBOSE = False


@dataclass
class Dispatch:
    """Solution of one dispatch: device powers (T, B) [kW], states and model predictions."""

    status: str
    pv_kw: np.ndarray  # PV output after curtailment
    pv_q_kvar: np.ndarray
    bs_kw: np.ndarray
    ev_kw: np.ndarray
    hp_kw: np.ndarray  # <= 0
    bs_soc: np.ndarray  # (T+1, B) (nan where no battery)
    ev_soc: np.ndarray
    t_in: np.ndarray  # (T+1, B) indoor temperature (nan where no heat pump)
    v_max_model: np.ndarray  # (T, B) predicted highest phase voltage [pu]
    v_min_model: np.ndarray
    curtailed_share: float
    solve_s: float

    @property
    def ok(self) -> bool:
        return self.status in ("optimal", "optimal_inaccurate")

    def injections(self) -> tuple[np.ndarray, np.ndarray]:
        """Net DER injection (P, Q) per bus and step [kW, kvar]."""
        return self.pv_kw + self.bs_kw + self.ev_kw + self.hp_kw, self.pv_q_kvar


def _sel(idx: np.ndarray, n: int) -> sp.csr_matrix:
    """(J, B) selection: row j has a 1 at bus idx[j]."""
    return sp.csr_matrix((np.ones(len(idx)), (np.arange(len(idx)), idx)), shape=(len(idx), n))


def _flow_limit(ref: DayResult, lim: Limits) -> np.ndarray:
    """(T, K) limit on the branch's real power [kW] scaled from the reference loading."""
    s_ref = np.hypot(ref.p_branch, ref.q_branch)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_cap = s_ref * lim.loading[None, :] / ref.loading
        p_cap = np.sqrt(np.maximum(s_cap**2 - ref.q_branch**2, 0.0))
    return np.where(ref.loading >= MIN_LOADING_PCT, p_cap, np.inf)


def solve_dispatch(cfg: Config, place: Placement, day: Day, pv_kw: np.ndarray,
                   sens: Sensitivity, ref_p: np.ndarray, ref_q: np.ndarray, ref: DayResult,
                   lim: Limits, monitored: np.ndarray) -> Dispatch:
    """Solve the coordinated dispatch for installed PV ``pv_kw`` (B,) around ``ref``."""
    t_n, b_n = day.pv_avail.shape
    dt = cfg.dt_h
    avail = day.pv_avail * pv_kw[None, :]
    ipv, ibs = np.flatnonzero(pv_kw > 0), np.flatnonzero(place.bs_kw > 0)
    iev, ihp = np.flatnonzero(place.ev_units > 0), np.flatnonzero(place.hp_units > 0)
    cons, obj = [], 0.0
    v: dict[str, cp.Variable] = {}
    tanphi = float(np.tan(np.arccos(cfg.pv_pf_min)))
    p_terms, q_terms = [], []
    # PV
    if len(ipv):
        a = avail[:, ipv]
        curt = v["curt"] = cp.Variable((t_n, len(ipv)), nonneg=True)
        qpv = v["qpv"] = cp.Variable((t_n, len(ipv)))
        cons += [curt <= a, cp.abs(qpv) <= tanphi * (a - curt),
                 cp.sum(curt) <= cfg.curtail_max * float(a.sum()) + 1e-9]
        obj += cfg.beta_pv * cp.sum_squares(curt / 1000.0)
        p_terms.append((a - curt) @ _sel(ipv, b_n))
        q_terms.append(qpv @ _sel(ipv, b_n))
    # batteries
    if len(ibs):
        pmax, emax = place.bs_kw[ibs], place.bs_kwh[ibs]
        pbs = v["bs"] = cp.Variable((t_n, len(ibs)))
        soc = v["bs_soc"] = cp.Variable((t_n + 1, len(ibs)))
        cons += [cp.abs(pbs) <= pmax[None, :], soc >= cfg.soc_min, soc <= cfg.soc_max,
                 soc[0] == cfg.soc_init, soc[t_n] == cfg.soc_init,
                 soc[1:] == soc[:-1] - cp.multiply(pbs, (dt * cfg.eta / emax)[None, :])]
        obj += cfg.beta_coupl * cp.sum(cp.multiply(day.pv_avail[:, ibs], pbs / 1000.0))
        obj += cfg.beta_ramp * cp.sum_squares(cp.diff(pbs, axis=0) / 1000.0)
        p_terms.append(pbs @ _sel(ibs, b_n))
    # EVs
    if len(iev):
        n = place.ev_units[iev].astype(float)
        pmax, emax = n * cfg.ev_rated_kw, n * cfg.ev_energy_kwh
        home = ev_home(cfg, day.hours)
        pev = v["ev"] = cp.Variable((t_n, len(iev)))
        soc = v["ev_soc"] = cp.Variable((t_n + 1, len(iev)))
        cons += [pev >= -pmax[None, :], soc >= cfg.soc_min, soc <= cfg.soc_max]
        cons += [pev <= (0.0 if cfg.ev_mode == "V1G" else pmax[None, :])]
        away = np.flatnonzero(~home)
        if len(away):
            cons.append(pev[away] == 0)
        at_home = np.flatnonzero(home)
        if len(at_home):
            cons.append(soc[at_home + 1] == soc[at_home]
                        - cp.multiply(pev[at_home], (dt * cfg.eta / emax)[None, :]))
        arrive = [t for t in range(t_n) if home[t] and t > 0 and not home[t - 1]]
        depart = [t for t in range(t_n) if not home[t] and t > 0 and home[t - 1]]
        for t in arrive:
            cons.append(soc[t] == cfg.soc_init)
        if home[0] and home[-1]:
            cons.append(soc[0] == soc[t_n])
        for t in depart:
            obj += cfg.beta_ev2 * cp.sum_squares(soc[t] - cfg.ev_target_soc)
        obj += cfg.beta_coupl * cp.sum(cp.multiply(day.pv_avail[:, iev], pev / 1000.0))
        obj += cfg.beta_ramp * cp.sum_squares(cp.diff(pev, axis=0) / 1000.0)
        p_terms.append(pev @ _sel(iev, b_n))
    # heat pumps
    if len(ihp):
        n = place.hp_units[ihp].astype(float)
        theta, rho = thermal_coefficients(cfg)
        chp = v["hp"] = cp.Variable((t_n, len(ihp)), nonneg=True)
        tin = v["t_in"] = cp.Variable((t_n + 1, len(ihp)))
        cons += [chp <= (n * cfg.hp_rated_kw)[None, :], tin[0] == cfg.t_set_c,
                 tin[1:] >= cfg.t_set_c - cfg.t_band_c, tin[1:] <= cfg.t_set_c + cfg.t_band_c,
                 tin[1:] == theta * tin[:-1] + (1 - theta) * (
                     day.t_out_c[:, None] - rho * chp / n[None, :])]
        obj += cfg.beta_t * cp.sum_squares(tin[1:] - cfg.t_set_c)
        obj += cfg.beta_ramp * cp.sum_squares(cp.diff(chp, axis=0) / 1000.0)
        p_terms.append(-chp @ _sel(ihp, b_n))
    p_inj = cp.sum(p_terms) if p_terms else cp.Constant(np.zeros((t_n, b_n)))
    q_inj = cp.sum(q_terms) if q_terms else cp.Constant(np.zeros((t_n, b_n)))
    dp, dq = p_inj - ref_p, q_inj - ref_q
    k_n = len(sens.to_bus)
    dfp, dfq = cp.Variable((t_n, k_n)), cp.Variable((t_n, k_n))
    dv = cp.Variable((t_n, b_n))
    # sparse branch form: flow = sum of children's flows - injection at the to-bus
    child = sp.csr_matrix((np.ones(k_n), (np.arange(k_n), np.arange(k_n))), shape=(k_n, k_n))
    bus_branch = {int(b): k for k, b in enumerate(sens.to_bus)}
    rows = [bus_branch[int(f)] for f in sens.from_bus if int(f) in bus_branch]
    cols = [k for k, f in enumerate(sens.from_bus) if int(f) in bus_branch]
    kids = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(k_n, k_n))
    tree = (child - kids).T.tocsr()  # dF @ tree = dF_k - sum of children
    at_to = _sel(sens.to_bus, b_n).T.tocsr()  # (B, K) injection at each branch's to-bus
    inc = (_sel(sens.to_bus, b_n) - _sel(sens.from_bus, b_n)).T.tocsr()  # (B, K)
    cons += [dfp @ tree == -(dp @ at_to), dfq @ tree == -(dq @ at_to),
             dv @ inc == -(dfp @ sp.diags(sens.r_pu_per_kw) + dfq @ sp.diags(sens.x_pu_per_kvar)),
             dv[:, 0] == 0]
    dflow_p = dfp
    mon = monitored
    cons += [ref.v_max[:, mon] + dv[:, mon] <= lim.v_max[None, mon],
             ref.v_min[:, mon] + dv[:, mon] >= lim.v_min[None, mon]]
    pcap = _flow_limit(ref, lim)
    fin = np.isfinite(pcap)
    flow = ref.p_branch + dflow_p
    if fin.any():
        cap = np.where(fin, pcap, 0.0)
        cons += [cp.multiply(fin, flow) <= cap, cp.multiply(fin, flow) >= -cap]
    # losses ~ r F^2 [MW] with r in pu of 1 MVA
    r_pu = sens.r_pu_per_kw * 1000.0
    obj += cfg.beta_loss * cp.sum_squares(cp.multiply(np.sqrt(r_pu)[None, :], flow / 1000.0))
    # PCC import = fixed load - injections (+ losses): the constant part is left out
    obj += -cp.sum(cp.multiply(day.price * dt * 1000.0, cp.sum(p_inj, axis=1) / 1000.0))
    prob = cp.Problem(cp.Minimize(obj), cons)
    try:
        prob.solve(solver=cfg.solver, verbose=VERBOSE)
    except cp.error.SolverError:
        pass
    status = prob.status or "solver_error"
    solve_s = float(getattr(prob.solver_stats, "solve_time", 0.0) or 0.0)
    ok = status in ("optimal", "optimal_inaccurate")

    def put(name: str, idx: np.ndarray, rows: int, fill: float, sign: float = 1.0):
        arr = np.full((rows, b_n), fill)
        if ok and name in v:
            arr[:, idx] = sign * v[name].value
        return arr

    pv_out, pv_q, curt_share = avail.copy(), np.zeros((t_n, b_n)), 0.0
    if ok and "curt" in v:
        pv_out[:, ipv] -= v["curt"].value
        pv_q[:, ipv] = v["qpv"].value
        curt_share = float(v["curt"].value.sum() / max(avail.sum(), 1e-9))
    dv_val = np.asarray(dv.value) if ok else np.full((t_n, b_n), np.nan)
    return Dispatch(status, pv_out, pv_q, put("bs", ibs, t_n, 0.0), put("ev", iev, t_n, 0.0),
                    put("hp", ihp, t_n, 0.0, -1.0), put("bs_soc", ibs, t_n + 1, np.nan),
                    put("ev_soc", iev, t_n + 1, np.nan), put("t_in", ihp, t_n + 1, np.nan),
                    ref.v_max + dv_val, ref.v_min + dv_val, curt_share, solve_s)
