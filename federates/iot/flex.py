"""Flexibility of a population over a market period, and distribution of setpoints.

Ranges are computed for a *constant* electrical power of each device over the period
[t0, t0 + n_steps * dt), from the current state and the known weather/draw forecast. All
device dynamics are affine in that power, so every point of [p_min, p_max] keeps the device
within its limits at every step end:
- HVAC: Ta_k = a_k + p b_k (two exact ETP runs, p = 0 and p = 1 kW); comfort interval
  [sp - band, sp + band] of the active mode; 0 <= p <= rated power at every step.
- Water heater: tank temperature affine in element power; [t_min, t_max]; 0 <= p <= element.
- PV: curtailment cap in [-min_k available, 0]. Battery: SOC limits over the whole period.
- EV: plugged for the whole period: [laxity bound, charger]; otherwise not dispatchable.
Temperature limits are tightened by MARGIN_C so that dispatch at a range end does not sit
on the limit. When the current state is already outside the interval the range collapses to
the power that drives it back fastest (best effort). Plug loads are not flexible.

Baselines p0 are what local control is expected to draw: the HVAC/tank holding power at
the setpoint, available PV, battery self-consumption, uncontrolled EV charging.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from federates.iot import battery as bat
from federates.iot import ev as evm
from federates.iot import thermal as th
from federates.iot import waterheater as wh
from federates.iot.model import TAN_HOUSE, PopulationModel
from federates.iot.pv import available_kw, pv_output

MARGIN_C = 0.01  # bids stay this far inside temperature limits (no rounding at the edge)


@dataclass
class Range:
    p0: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    feasible: np.ndarray | None = None  # False: state outside limits, best-effort range


@dataclass
class Flexibility:
    """Per-device ranges and their per-agent sums for one period."""

    t0: float
    t1: float
    hvac: Range
    wh: Range
    pv: Range
    bat: Range
    ev: Range
    base: np.ndarray
    cooling: np.ndarray  # HVAC mode the ranges assume (held while dispatched)
    agent: Range
    agent_q: Range
    gen_headroom: np.ndarray  # per agent: p0 - p_min of PV and battery [kW]
    pv_qcap: np.ndarray  # |q| every PV inverter can deliver over the period [kvar]
    bat_qcap: np.ndarray
    hvac_cap: np.ndarray  # compressor power limit over the period (heat pumps: aux above)


def _interval(a: np.ndarray, b: np.ndarray, lo_t: np.ndarray, hi_t: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on p with lo_t <= a + p b <= hi_t (b != 0), per row; a, b shaped (k, n)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (hi_t - a) / b
        v = (lo_t - a) / b
    low = np.where(b < 0, u, np.where(b > 0, v, -np.inf))
    high = np.where(b < 0, v, np.where(b > 0, u, np.inf))
    return low.max(axis=0), high.min(axis=0)


def _collapse(lo: np.ndarray, hi: np.ndarray, cap: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip to [0, cap]; an empty interval collapses to its lower end (the power that
    restores the upper comfort limit: more cooling, more heating, more tank heat)."""
    ok = (lo <= hi) & (lo <= cap) & (hi >= 0)
    lo, hi = np.clip(lo, 0.0, cap), np.clip(hi, 0.0, cap)
    return lo, np.where(ok, hi, lo), ok


def hvac_range(m: PopulationModel, t0: float, dt: float, n_steps: int
               ) -> tuple[Range, np.ndarray]:
    """HVAC range and the compressor share of it (heat pumps heat with backup strips above).

    Heating heat pumps: p <= P_hp runs the compressor; p > P_hp adds resistance strips
    (p - P_hp). Ta is affine on each segment and increasing in p, so the feasible set is an
    interval found segment by segment.
    """
    p = m.pop
    cooling = m.cooling_mode()
    sp = np.where(cooling, p.cool_sp, p.heat_sp)
    h = p.house.hvac
    strips = h.aux_cap_kw if h.aux_cap_kw is not None else np.zeros(p.n_houses)
    aux = np.where(cooling | (h.heat_type != th.HEAT_PUMP), 0.0, strips)
    prop = m.propagator(dt)
    # the three runs (q = 0, 1 kW compressor, 1 kW aux) as the rows of one state
    ta, tm = np.repeat(m.ta[None, :], 3, axis=0), np.repeat(m.tm[None, :], 3, axis=0)
    zero, one = np.zeros(p.n_houses), np.ones(p.n_houses)
    traj = []
    caps = []
    for k in range(n_steps):
        c = m.conditions(t0 + k * dt)
        base, solar, to, lim = c.base, c.solar, c.to, c.lim
        p_full = np.where(cooling, lim.cool_p_kw, lim.heat_p_kw)
        q_per_kw = np.where(cooling, -lim.cool_q_kw, lim.heat_q_kw) / np.maximum(p_full, 1e-9)
        qa, qm = th.split_gains(np.stack([zero, q_per_kw, one]), base, solar)
        ta, tm = th.etp_step(p.house.etp, prop, ta, tm, np.full(p.n_houses, to), qa, qm)
        traj.append(ta)
        caps.append(p_full)
        if k == 0:
            q_hold = p.house.etp.ua * (sp - to) - base - solar  # steady heat to hold sp
            need = np.where(cooling, np.maximum(-q_hold, 0), np.maximum(q_hold, 0))
            q_full = np.abs(q_per_kw) * p_full
            p0 = np.where(need <= q_full, need / np.maximum(np.abs(q_per_kw), 1e-9),
                          p_full + np.minimum(need - q_full, aux))
    runs = np.array(traj)  # (step, run, house)
    a = runs[:, 0]
    b1, b2 = runs[:, 1] - a, runs[:, 2] - a
    cap = np.min(np.array(caps), axis=0)
    # comfort interval of the mode, kept between the two setpoints so the mode cannot flip
    band = p.comfort_band
    low = np.where(cooling, np.maximum(sp - band, p.heat_sp), sp - band)
    high = np.where(cooling, sp + band, np.minimum(sp + band, p.cool_sp))
    lo_t, hi_t = (low + MARGIN_C)[None, :], (high - MARGIN_C)[None, :]
    l1, h1 = _interval(a, b1, lo_t, hi_t)
    l1, h1 = np.maximum(l1, 0.0), np.minimum(h1, cap)
    ok1 = l1 <= h1
    l2, h2 = _interval(a + cap[None, :] * b1, b2, lo_t, hi_t)
    l2, h2 = np.maximum(l2, 0.0), np.minimum(h2, aux)
    ok2 = (aux > 0) & (l2 <= h2)
    # no feasible power: full output if the house is on the side the HVAC corrects, else off
    helps = np.where(cooling, m.ta > sp, m.ta < sp)
    fallback = np.where(helps, cap + aux, 0.0)
    lo = np.where(ok1, l1, np.where(ok2, cap + l2, fallback))
    hi = np.where(ok2, cap + h2, np.where(ok1, h1, lo))
    ok = ok1 | ok2
    return Range(np.clip(p0, lo, hi), lo, hi, ok), cap


def wh_range(m: PopulationModel, t0: float, dt: float, n_steps: int) -> Range:
    tank = m.pop.tank
    a, b = m.wh_temp.copy(), np.zeros(len(m.wh_temp))
    a_k, b_k = [], []
    for k in range(n_steps):  # T_k = a_k + b_k q, exact one-node recursion
        mdot = wh.draw_rate_kw_k(tank, t0 + k * dt)
        g = tank.ua_kw_k + mdot
        e = np.exp(-g * dt / tank.capacity_kj_k)
        a = e * a + (1 - e) * (tank.ua_kw_k * tank.ambient_c + mdot * tank.inlet_c) / g
        b = e * b + (1 - e) / g
        a_k.append(a)
        b_k.append(b)
    lo, hi = _interval(np.array(a_k), np.array(b_k), tank.t_min_c[None, :] + MARGIN_C,
                       tank.t_max_c[None, :] - MARGIN_C)
    lo, hi, ok = _collapse(lo, hi, tank.element_kw)
    mdot0 = wh.draw_rate_kw_k(tank, t0)
    hold = tank.ua_kw_k * (tank.setpoint_c - tank.ambient_c) + mdot0 * (
        tank.setpoint_c - tank.inlet_c)
    return Range(np.clip(hold, lo, hi), lo, hi, ok)


def device_ranges(m: PopulationModel, t0: float, dt: float, n_steps: int) -> Flexibility:
    """Ranges of every device and agent for the period [t0, t0 + n_steps dt)."""
    p = m.pop
    period = dt * n_steps
    hv, hv_cap = hvac_range(m, t0, dt, n_steps)
    wr = wh_range(m, t0, dt, n_steps)
    avail_k = np.array([available_kw(p.pv, c.ghi, c.to) for c in
                        (m.conditions(t0 + k * dt) for k in range(n_steps))])
    avail = avail_k.min(axis=0) if len(p.pv_house) else np.zeros(0)
    avail_max = avail_k.max(axis=0) if len(p.pv_house) else np.zeros(0)
    pvr = Range(-avail, -avail, np.zeros_like(avail))
    b_lo, b_hi = bat.power_limits(p.battery, m.bat_e, period)
    base, *_ = m.gains(t0)
    whole = evm.connected(p.ev, t0) & (evm.hours_to_departure(p.ev, t0) * 3600 >= period)
    e_lo, e_hi = evm.power_limits(p.ev, m.ev_soc, t0, period)
    e0 = evm.uncontrolled_kw(p.ev, m.ev_soc, t0, period)
    er = Range(np.where(whole, np.clip(e0, e_lo, e_hi), 0.0), np.where(whole, e_lo, 0.0),
               np.where(whole, e_hi, 0.0))
    n = p.n_houses
    agent = Range(base + hv.p0, base + hv.lo, base + hv.hi)
    for idx, r in ((p.wh_house, wr), (p.pv_house, pvr), (p.ev_house, er)):
        for dst, src in ((agent.p0, r.p0), (agent.lo, r.lo), (agent.hi, r.hi)):
            np.add.at(dst, idx, src)
    local = -agent.p0[p.bat_house] if p.battery_mode == "self_consumption" else 0.0
    br = Range(np.clip(local, b_lo, b_hi), b_lo, b_hi)
    for idx, r in ((p.bat_house, br),):
        for dst, src in ((agent.p0, r.p0), (agent.lo, r.lo), (agent.hi, r.hi)):
            np.add.at(dst, idx, src)
    # reactive power: inverter headroom left at the largest active power of the period
    pv_qcap = np.sqrt(np.maximum(p.pv.s_rated_kva**2 - avail_max**2, 0.0))
    bat_qcap = np.sqrt(np.maximum(p.battery.p_rated_kw**2 - np.maximum(-b_lo, b_hi) ** 2, 0.0))
    # motors and plug loads draw q at their baseline P (not dispatchable); inverters add
    # anything within their headroom; q0 includes the PV's local pf / volt-var behaviour
    q_fixed = (base + hv.p0) * TAN_HOUSE
    q_cap = np.zeros(n)
    np.add.at(q_cap, p.pv_house, pv_qcap)
    np.add.at(q_cap, p.bat_house, bat_qcap)
    v = m.v_pu[p.bp_index[p.pv_house]] if m.v_pu is not None else None
    q0 = q_fixed.copy()
    np.add.at(q0, p.pv_house, pv_output(p.pv, avail, np.full(len(avail), np.inf), v)[1])
    gen = np.zeros(n)
    np.add.at(gen, p.pv_house, pvr.p0 - pvr.lo)
    np.add.at(gen, p.bat_house, br.p0 - br.lo)
    q_lo, q_hi = q_fixed - q_cap, q_fixed + q_cap
    q0 = np.clip(q0, q_lo, q_hi)
    return Flexibility(t0, t0 + period, hv, wr, pvr, br, er, base, m.cooling_mode(), agent,
                       Range(q0, q_lo, q_hi), gen, pv_qcap, bat_qcap, hv_cap)


def waterfill(delta: float, caps: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Split delta (>= 0) as x_i = min(cap_i, lam w_i) with sum x = delta (bisection on lam)."""
    caps = np.maximum(caps, 0.0)
    total = caps.sum()
    if delta <= 0 or total <= 0:
        return np.zeros_like(caps)
    if delta >= total:
        return caps.copy()
    w = np.where(caps > 0, np.maximum(weights, 1e-9), 0.0)
    lo, hi = 0.0, float(np.max(np.where(w > 0, caps / np.maximum(w, 1e-300), 0.0)))
    for _ in range(100):
        lam = 0.5 * (lo + hi)
        if np.minimum(caps, lam * w).sum() < delta:
            lo = lam
        else:
            hi = lam
    return np.minimum(caps, hi * w)


def split(target: float, r: Range, weights: np.ndarray) -> np.ndarray:
    """Per-member powers summing to target (clipped to the range sum), each in [lo, hi].

    Rule: start from the baselines p0 and share the difference in proportion to
    weight x headroom in the direction needed, never beyond a member's limit.
    """
    delta = float(target - r.p0.sum())
    if delta >= 0:
        return r.p0 + waterfill(delta, r.hi - r.p0, weights * (r.hi - r.p0))
    return r.p0 - waterfill(-delta, r.p0 - r.lo, weights * (r.p0 - r.lo))



class Groups:
    """Segments of a concatenated array (group k starts at starts[k]; empty groups sum to 0).
    `sum` gives each group's sum bit for bit as `segment.sum()` would (numpy's pairwise
    summation depends on the length, so groups of one length are summed as the rows of one
    2-D array; np.add.reduceat sums sequentially and would differ in the last bits)."""

    def __init__(self, starts: np.ndarray, n: int):
        sizes = np.diff(np.append(starts, n))
        self.n_groups = len(starts)
        self.of = np.repeat(np.arange(len(starts)), sizes)  # group of each element
        self.starts = starts
        self.classes = [(np.flatnonzero(sizes == size),
                         starts[sizes == size][:, None] + np.arange(size))
                        for size in np.unique(sizes)]

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Group sums along the last axis of x (shape (..., n) -> (..., n_groups)). Leading
        axes are folded into the rows of one C-contiguous 2-D sum: a 3-D or non-contiguous
        sum over the last axis does not always add in the order the 1-D one does."""
        if x.ndim == 1:  # x[cols] is already a C-contiguous 2-D array
            out = np.empty(self.n_groups)
            for rows, cols in self.classes:
                out[rows] = x[cols].sum(axis=1)
            return out
        lead = x.shape[:-1]
        out = np.empty(lead + (self.n_groups,))
        for rows, cols in self.classes:
            part = np.ascontiguousarray(x[..., cols]).reshape(
                math.prod(lead) * len(rows), cols.shape[1]).sum(axis=1)
            out[..., rows] = part.reshape(lead + (len(rows),))
        return out


def waterfill_groups(delta: np.ndarray, caps: np.ndarray, weights: np.ndarray,
                     groups: Groups) -> np.ndarray:
    """`waterfill` of several groups at once (group k gets delta[k]); the same bisection,
    step for step and bit for bit, as the one-group version. It stops early once an
    iteration leaves (lo, hi) of every group whose result depends on them unchanged:
    every later one would repeat it exactly."""
    caps = np.maximum(caps, 0.0)
    g = groups.of
    total = groups.sum(caps)
    w = np.where(caps > 0, np.maximum(weights, 1e-9), 0.0)
    lo = np.zeros(groups.n_groups)
    hi = np.maximum.reduceat(np.where(w > 0, caps / np.maximum(w, 1e-300), 0.0),
                             groups.starts)
    bisected = ~((delta >= total) | (delta <= 0) | (total <= 0))  # the rest ignore lo, hi
    for _ in range(100):
        lam = 0.5 * (lo + hi)
        below = groups.sum(np.minimum(caps, lam[g] * w)) < delta
        new_lo, new_hi = np.where(below, lam, lo), np.where(below, hi, lam)
        if np.array_equal(new_lo[bisected], lo[bisected]) and \
                np.array_equal(new_hi[bisected], hi[bisected]):
            break
        lo, hi = new_lo, new_hi
    out = np.where((delta >= total)[g], caps, np.minimum(caps, hi[g] * w))
    return np.where(((delta <= 0) | (total <= 0))[g], 0.0, out)


def split_groups(targets: np.ndarray, r: Range, weights: np.ndarray,
                 starts: np.ndarray) -> np.ndarray:
    """`split` of several non-empty groups at once (group k: members starts[k] to
    starts[k + 1] of r and weights, target targets[k]); same result as one `split` each."""
    groups = Groups(np.asarray(starts), len(r.p0))
    delta = np.asarray(targets, dtype=float) - groups.sum(r.p0)
    up = (delta >= 0)[groups.of]
    caps = np.where(up, r.hi - r.p0, r.p0 - r.lo)
    x = waterfill_groups(np.abs(delta), caps, weights * caps, groups)
    return np.where(up, r.p0 + x, r.p0 - x)
