"""Consumer market stage I: a house's multi-period schedule and flexibility (spec C, L1929-1999).

Each consumer market agent (a house) plans its devices over the horizon (default 24 h in
15-min steps) and offers a flexibility band delta^d around each device's power:

  min  sum_t sum_d [ -delta^d + f^d ] + f^util - P^total
  s.t. eps1 |P^d| <= delta^d <= eps2 |P^d|,  P^d - delta^d >= P_min^d,  P^d + delta^d <= P_max^d
       device models (below), P^total = sum_d P^d - P^fixed

Sign convention: injection = generation - load; battery (BS) and EV positive when
discharging; heat pump (HP, cooling) <= 0; PV >= 0.
  BS:   SOC(t+1) = (1 - sd) SOC(t) + dt (eta P-(t) - P+(t) / eta) / E, cyclic
        SOC(0) = SOC(T), cost alpha_cyc sum dP^2. Charge and discharge are split, P = P+ - P-, with
        efficiencies (SOC gains eta P-, loses P+ / eta), so |P| <= P+ + P- and the upper
        flexibility bound uses P+ + P- (convex; the losses make simultaneous use costly).
  EV:   as BS, V1G (P <= 0), P = 0 while away; arrives at `ev_arrival_soc`, leaves with at
        least `ev_target_soc`; costs alpha_cyc sum dP^2 + xi_ev (SOC(t*) - SOC*)^2.
  HP:   T_in(t+1) = theta T_in + (1 - theta)(T_out + rho P), theta = exp(-dt / RC),
        rho = R eta (cooling); T_in within T* +/- band; cost xi_ac sum (T_in - T*)^2.
  PV:   0 <= P <= alpha(t) Pbar; cost xi_pv sum (alpha Pbar - P)^2.
  f^util = (P^PV + P^BS + P^EV)^2 at the steps with sunlight (seed: "whenever PV != 0").
"Self-discharge" is `sd` (the seed's delta_BS; delta is the flexibility here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np


@dataclass
class FlexParams:
    """Stage I parameters (spec C DECIDE defaults)."""

    eps1: float = 0.05
    eps2: float = 0.5
    alpha_cyc: float = 0.01
    xi_ev: float = 10.0
    xi_ac: float = 1.0
    xi_pv: float = 1.0


@dataclass
class House:
    """One house's devices over the horizon (arrays of length T; kW, kWh, degC)."""

    fixed_kw: np.ndarray  # inflexible load
    dt_h: float = 0.25
    pv_kw: float = 0.0  # PV rating
    pv_avail: np.ndarray | None = None  # available fraction alpha(t)
    bs_kw: float = 0.0
    bs_kwh: float = 0.0
    bs_soc0: float = 0.5
    eta: float = 0.95
    sd: float = 0.0  # self-discharge per step
    soc_min: float = 0.1
    ev_kw: float = 0.0
    ev_kwh: float = 0.0
    ev_home: np.ndarray | None = None  # True while the EV is at home
    ev_arrival_soc: float = 0.5
    ev_target_soc: float = 0.9
    hp_kw: float = 0.0
    t_out: np.ndarray | None = None
    t_set: float = 22.0
    t_band: float = 2.0
    t_in0: float = 22.0
    r_c_per_kw: float = 2.0
    c_kwh_per_c: float = 10.0
    cop: float = 3.0

    @property
    def steps(self) -> int:
        return len(self.fixed_kw)


@dataclass
class Flexibility:
    """Stage I result per step: device powers, flexibility and the house totals."""

    status: str
    p_kw: dict[str, np.ndarray]  # per device
    delta_kw: dict[str, np.ndarray]
    p0_kw: np.ndarray  # P^total = sum_d P^d - P^fixed
    band_kw: np.ndarray  # sum_d delta^d
    soc: dict[str, np.ndarray] = field(default_factory=dict)  # length T + 1
    t_in: np.ndarray | None = None


def _storage(p_pos: cp.Variable, p_neg: cp.Variable, e_kwh: float, h: House,
             home: np.ndarray | None, cons: list) -> cp.Variable:
    """SOC dynamics of a battery / EV with split charge (p_neg) and discharge (p_pos)."""
    T = h.steps
    soc = cp.Variable(T + 1)
    gain = (h.eta * p_neg - p_pos / h.eta) * h.dt_h / e_kwh
    if home is None:
        cons += [soc[1:] == (1 - h.sd) * soc[:-1] + gain, soc[T] == soc[0]]
    else:  # EV: dynamics at home; on arrival the SOC is reset to the arrival SOC
        arrive = np.flatnonzero(home & ~np.roll(home, 1))
        for t in range(T):
            if home[t] and t + 1 not in set(arrive.tolist()):
                cons.append(soc[t + 1] == (1 - h.sd) * soc[t] + gain[t])
        cons += [soc[a] == h.ev_arrival_soc for a in arrive]
        cons += [soc[T] == soc[0]]
        leave = np.flatnonzero(~home & np.roll(home, 1))
        cons += [soc[d] >= h.ev_target_soc for d in leave]
        cons += [p_pos[~home] == 0, p_neg[~home] == 0]
    cons += [soc >= h.soc_min, soc <= 1.0]
    return soc


def stage_one(h: House, prm: FlexParams | None = None) -> Flexibility:
    """Solve stage I for one house (a convex QP)."""
    prm = prm or FlexParams()
    T = h.steps
    cons: list = []
    obj = 0
    p: dict[str, cp.Expression] = {}
    absp: dict[str, cp.Expression] = {}
    upper: dict[str, cp.Expression] = {}
    lim: dict[str, tuple[float, float]] = {}
    soc: dict[str, cp.Variable] = {}
    t_in = None
    if h.pv_kw > 0:
        avail = h.pv_kw * np.asarray(h.pv_avail, dtype=float)
        pv = cp.Variable(T, nonneg=True)
        cons.append(pv <= avail)
        obj += prm.xi_pv * cp.sum_squares(avail - pv)
        p["pv"], absp["pv"], upper["pv"] = pv, pv, pv
        lim["pv"] = (0.0, h.pv_kw)
    for name, kw, kwh, home in (("bs", h.bs_kw, h.bs_kwh, None),
                                ("ev", h.ev_kw, h.ev_kwh, h.ev_home)):
        if kw <= 0 or kwh <= 0:
            continue
        pos, neg = cp.Variable(T, nonneg=True), cp.Variable(T, nonneg=True)
        cons.append(pos + neg <= kw)
        if name == "ev":  # V1G: charging only
            cons.append(pos == 0)
            home = np.asarray(home, dtype=bool)
        soc[name] = _storage(pos, neg, kwh, h, home, cons)
        pw = pos - neg
        obj += prm.alpha_cyc * cp.sum_squares(cp.diff(pw))
        if name == "ev":
            leave = np.flatnonzero(~home & np.roll(home, 1))
            obj += prm.xi_ev * cp.sum_squares(soc[name][leave] - h.ev_target_soc)
        p[name], absp[name], upper[name] = pw, cp.abs(pw), pos + neg
        lim[name] = (-kw, 0.0 if name == "ev" else kw)
    if h.hp_kw > 0:
        hp = cp.Variable(T, nonpos=True)
        theta = np.exp(-h.dt_h / (h.r_c_per_kw * h.c_kwh_per_c))
        rho = h.r_c_per_kw * h.cop
        t_in = cp.Variable(T + 1)
        cons += [t_in[0] == h.t_in0, hp >= -h.hp_kw,
                 t_in[1:] == theta * t_in[:-1] + (1 - theta) * (np.asarray(h.t_out) + rho * hp),
                 cp.abs(t_in - h.t_set) <= h.t_band]
        obj += prm.xi_ac * cp.sum_squares(t_in - h.t_set)
        p["hp"], absp["hp"], upper["hp"] = hp, -hp, -hp
        lim["hp"] = (-h.hp_kw, 0.0)
    delta = {d: cp.Variable(T, nonneg=True) for d in p}
    for d in p:
        lo, hi = lim[d]
        cons += [prm.eps1 * absp[d] <= delta[d], delta[d] <= prm.eps2 * upper[d],
                 p[d] - delta[d] >= lo, p[d] + delta[d] <= hi]
        obj += -cp.sum(delta[d])
    fixed = np.asarray(h.fixed_kw, dtype=float)
    total = sum(p.values()) - fixed if p else -fixed + cp.Constant(np.zeros(T))
    if "pv" in p:
        sun = np.asarray(h.pv_avail) > 0
        gen = sum(p[d] for d in ("pv", "bs", "ev") if d in p)
        obj += cp.sum_squares(gen[sun])
    obj += -cp.sum(total)
    prob = cp.Problem(cp.Minimize(obj), cons)
    prob.solve(solver=cp.CLARABEL)
    ok = prob.status in ("optimal", "optimal_inaccurate")
    val = {d: np.asarray(p[d].value, dtype=float) if ok else np.full(T, np.nan) for d in p}
    dl = {d: np.asarray(delta[d].value, dtype=float) if ok else np.full(T, np.nan)
          for d in p}
    p0 = sum(val.values()) - fixed if val else -fixed
    band = sum(dl.values()) if dl else np.zeros(T)
    return Flexibility(status=prob.status, p_kw=val, delta_kw=dl, p0_kw=np.asarray(p0),
                       band_kw=np.asarray(band),
                       soc={k: np.asarray(v.value) for k, v in soc.items()} if ok else {},
                       t_in=None if t_in is None or not ok else np.asarray(t_in.value))
