"""Secondary market agents (houses) and operators (buses): bids, setpoints, responses.

Setpoint distribution rule (documented contract with the market):
1. A `Setpoint` for SMO s with per-agent entries sets those agents' targets; agents it does
   not list keep their baseline p0.
2. Without agent entries, the SMO target P is shared: every agent starts at its baseline p0
   and the difference P - sum(p0) is split in proportion to trust x headroom in the
   required direction (water-filling, nobody beyond its bid range) -- more trusted agents
   carry more of the flexibility, as in the seed's resilience-weighted secondary market.
3. Inside an agent, the difference target - p0 is split over its devices in proportion to
   their headroom, so every device stays within the range its bid was built from.
Targets hold until the end of the bid's period; afterwards devices return to local control.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from federates.iot import attacks
from federates.iot.ev import connected
from federates.iot.flex import (
    Flexibility,
    Groups,
    Range,
    device_ranges,
    split,
    split_groups,
)
from federates.iot.model import PopulationModel, StepResult
from federates.messages import (
    AttackCommand,
    FlexibilityBid,
    PopulationSummary,
    Response,
    Setpoint,
    Telemetry,
)

PCTS = (5, 25, 50, 75, 95)
_PCT_Q = np.true_divide(PCTS, 100)


@cache
def _pct_points(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour ranks, weights and upper-half mask of the PCTS percentiles of n values,
    computed as np.percentile's default 'linear' method does."""
    virtual = (n - 1) * _PCT_Q
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= n - 1
    prev[above], nxt[above] = -1, -1
    gamma = virtual - prev
    return prev.astype(np.intp), nxt.astype(np.intp), gamma, gamma >= 0.5


def _pct(x: np.ndarray) -> dict[str, float]:
    """PCTS percentiles of x, bit for bit np.percentile(x, PCTS) (one sort and the same
    interpolation arithmetic, without np.percentile's per-call overhead)."""
    if len(x) == 0:
        return {}
    ordered = np.sort(x)
    if np.isnan(ordered[-1]):  # np.percentile: NaN anywhere gives NaN everywhere
        values = [float("nan")] * len(PCTS)
    else:
        prev, nxt, gamma, upper = _pct_points(len(x))
        a, b = ordered[prev], ordered[nxt]
        diff = b - a
        values = np.where(upper, b - diff * (1 - gamma), a + diff * gamma).tolist()
    return {f"p{q}": v for q, v in zip(PCTS, values, strict=True)}


@dataclass
class Coordinator:
    """Market-facing behaviour of one population (pure: payloads in, payloads out)."""

    model: PopulationModel
    dt: float
    market_period_s: float
    beta_per_band: float = 0.008  # disutility [$/(kW^2 h)] x 1 degC / comfort band
    alpha_gen: float = 0.002  # generation cost [$/(kW^2 h)]
    agent_detail: bool = True  # per-SMA (house) columns in each bid
    flex: Flexibility | None = None
    scheduled: np.ndarray = field(default_factory=lambda: np.zeros(0))
    attacks_active: dict[str, attacks.ActiveAttack] = field(default_factory=dict)

    _COLUMN_KEYS = ("agents", *FlexibilityBid.COLUMNS)

    def __post_init__(self) -> None:
        n = self.model.pop.n_houses
        self.scheduled = np.full(n, np.nan)
        self.err_sum, self.anom_sum, self.count = np.zeros(n), np.zeros(n), 0
        # per-agent sums over the steps since the last Response (dispatched steps only)
        self.resp_kw, self.resp_sched, self.resp_steps = np.zeros(n), np.zeros(n), np.zeros(n)
        self.missed = np.zeros(len(self.model.pop.smos), dtype=int)
        self.awaiting = np.full(len(self.model.pop.smos), np.nan)  # period end per SMO
        self.last: StepResult | None = None
        # per-step payloads are built from these (no per-agent lookups or pydantic objects)
        self._names = [str(a) for a in self.model.pop.agents]
        self._smo_pos = {smo: s for s, smo in enumerate(self.model.pop.smos)}
        self._smo_houses = [np.flatnonzero(self.model.pop.smo_index == s)
                            for s in range(len(self.model.pop.smos))]
        # houses grouped by SMO: SMO s owns positions bounds[s]:bounds[s + 1] of `order`
        self._smo_order = np.concatenate([np.zeros(0, dtype=int), *self._smo_houses])
        self._smo_names = [[self._names[i] for i in h.tolist()] for h in self._smo_houses]
        self._smo_bounds = np.cumsum([0] + [len(h) for h in self._smo_houses]).tolist()
        self._order_names = [self._names[i] for i in self._smo_order.tolist()]
        self._smo_groups = Groups(np.array(self._smo_bounds[:-1], dtype=int),
                                  len(self._smo_order))

    # ---------------------------------------------------------------- bids
    def bids(self, t_start: float, time: float) -> list[FlexibilityBid]:
        """One bid per SMO for [t_start, t_start + market period)."""
        return [FlexibilityBid.model_validate(d) for d in self.bid_dicts(t_start, time)]

    def bid_messages(self, t_start: float, time: float) -> list[tuple[str, str]]:
        """(smo, JSON FlexibilityBid) per SMO, built without pydantic (fast for 100k)."""
        return [(d["smo"], json.dumps(d)) for d in self.bid_dicts(t_start, time)]

    def bid_dicts(self, t_start: float, time: float) -> list[dict]:
        """FlexibilityBid fields per SMO (plain dicts) for [t_start, t_start + period).

        The per-agent columns are sliced from lists built once for all houses in SMO order
        (no per-agent dicts or objects)."""
        n_steps = max(int(round(self.market_period_s / self.dt)), 1)
        f = device_ranges(self.model, t_start, self.dt, n_steps)
        self.flex = f
        p = self.model.pop
        beta = self.beta_per_band / p.comfort_band
        has_gen = f.gen_headroom > 1e-9
        order, bounds = self._smo_order, self._smo_bounds
        ranges = np.stack([f.agent.p0, f.agent_q.p0, f.agent.lo, f.agent.hi, f.agent_q.lo,
                           f.agent_q.hi])[:, order]  # houses in SMO order
        if self.agent_detail:
            coefs = np.stack(np.broadcast_arrays(np.where(has_gen, self.alpha_gen, 0.0), beta,
                                                 f.gen_headroom))[:, order]
            spans = list(zip(bounds[:-1], bounds[1:], strict=True))
            names = self._order_names
            # per SMO: its agents and its slice of every column
            columns = list(zip([names[a:b] for a, b in spans], *(
                [v[a:b] for a, b in spans] for v in np.vstack([ranges, coefs]).tolist()),
                strict=True))
        # SMO totals, and 1 / sum(1 / beta) over each SMO's flexible houses
        totals = self._smo_groups.sum(ranges).T.tolist()
        flexible = (f.agent.hi - f.agent.lo > 1e-9)[order]
        inv_sum, n_flexible = self._segment_sums((1.0 / beta)[order], flexible)
        agg_beta = np.divide(1.0, inv_sum, out=np.zeros_like(inv_sum),
                             where=n_flexible > 0).tolist()
        gen = np.bincount(self._smo_groups.of[has_gen[order]], minlength=len(p.smos)) > 0
        out = []
        for s, smo in enumerate(p.smos):
            p0, q0, lo, hi, q_lo, q_hi = totals[s]
            bid = {
                "time": time, "smo": smo, "period_start": f.t0, "period_end": f.t1,
                "p0_kw": p0, "q0_kvar": q0, "p_min_kw": lo, "p_max_kw": hi,
                "q_min_kvar": q_lo, "q_max_kvar": q_hi,
                "alpha": self.alpha_gen if gen[s] else 0.0, "beta": agg_beta[s]}
            if self.agent_detail:
                bid.update(zip(self._COLUMN_KEYS, columns[s], strict=True))
            out.append(bid)
        self.awaiting[:] = f.t1
        return out

    def _segment_sums(self, x: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-SMO sums of the kept entries of x (last axis in SMO order, like keep), each
        bit for bit `x_smo[keep_smo].sum()`; and the number kept per SMO."""
        if keep.all():
            return self._smo_groups.sum(x), np.diff(self._smo_bounds)
        counts = np.bincount(self._smo_groups.of[keep], minlength=len(self.model.pop.smos))
        starts = np.cumsum(counts) - counts
        return Groups(starts, int(counts.sum())).sum(x[..., keep]), counts

    # ---------------------------------------------------------------- setpoints
    def apply_setpoint(self, sp: Setpoint) -> bool:
        """Distribute one SMO setpoint to its devices; False if it cannot be used."""
        return self.apply_setpoints([sp])[0]

    def apply_setpoints(self, sps: list[Setpoint]) -> list[bool]:
        """Distribute the setpoints received in one step (same result as applying them one
        by one: each house is only touched by its own SMO's setpoint, and a later setpoint
        for the same SMO replaces an earlier one). False for those that cannot be used."""
        p, f, m = self.model.pop, self.flex, self.model
        pos = [self._smo_pos.get(sp.smo) if f is not None else None for sp in sps]
        latest = {s: sp for s, sp in zip(pos, sps, strict=True) if s is not None}
        if not latest:
            return [s is not None for s in pos]
        assert f is not None
        shared = self._split_shared([(s, sp) for s, sp in latest.items() if not sp.agents])
        # SMOs listing all their agents in order (the usual case) are clipped in one pass
        # after the loop; the others get their targets SMO by SMO
        houses: dict[bool, list[np.ndarray]] = {False: [], True: []}
        until: dict[bool, list[float]] = {False: [], True: []}
        target, q_target = [], []
        listed_p: list[float] = []
        listed_q: list[float] = []
        for s, sp in latest.items():
            self.awaiting[s] = np.nan
            idx = self._smo_houses[s]
            listed = bool(sp.agents) and sp.agents == self._smo_names[s]
            houses[listed].append(idx)
            until[listed].append(min(sp.period_end, f.t1) if sp.period_end > sp.period_start
                                 else f.t1)
            if listed:
                listed_p += sp.agent_p_kw
                listed_q += sp.agent_q_kvar
                continue
            r = Range(f.agent.p0[idx], f.agent.lo[idx], f.agent.hi[idx])
            rq = Range(f.agent_q.p0[idx], f.agent_q.lo[idx], f.agent_q.hi[idx])
            if sp.agents:
                names = self._smo_names[s]
                given = dict(zip(sp.agents, sp.agent_p_kw, strict=True))
                target.append(np.clip(np.array([given.get(a, x) for a, x in
                                                zip(names, r.p0.tolist(), strict=True)]),
                                      r.lo, r.hi))
                given_q = dict(zip(sp.agents, sp.agent_q_kvar, strict=True))
                q_target.append(np.clip([given_q.get(a, x) for a, x in
                                         zip(names, rq.p0.tolist(), strict=True)],
                                        rq.lo, rq.hi))
            elif s in shared:
                target.append(shared[s][0])
                q_target.append(shared[s][1])
            else:
                target.append(split(sp.p_kw, r, p.trust[idx]))
                q_target.append(split(sp.q_kvar, rq, p.trust[idx]))
        if houses[True]:
            idx = np.concatenate(houses[True])
            target.append(np.clip(np.array(listed_p), f.agent.lo[idx], f.agent.hi[idx]))
            q_target.append(np.clip(np.array(listed_q), f.agent_q.lo[idx], f.agent_q.hi[idx]))
        groups = houses[False] + houses[True]
        idx = np.concatenate(groups)
        tgt, q_tgt = np.concatenate(target), np.concatenate(q_target)
        self.scheduled[idx] = tgt
        m.disp_cooling[idx] = f.cooling[idx]
        m.disp_hp_max[idx] = f.hvac_cap[idx]
        self._to_devices(idx, tgt - f.agent.p0[idx])
        q_lo, q_hi = f.agent_q.lo[idx], f.agent_q.hi[idx]
        self._q_to_inverters(idx, q_tgt - q_lo - (q_hi - q_lo) / 2)
        m.disp_until[idx] = np.repeat(until[False] + until[True], [len(h) for h in groups])
        return [s is not None for s in pos]

    def _split_shared(self, items: list[tuple[int, Setpoint]]
                      ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """(P, Q) targets of the SMOs whose setpoint has no agent entries (rule 2), all
        SMOs in one vectorised water-filling; {} if some SMO has no houses."""
        f, trust = self.flex, self.model.pop.trust
        assert f is not None
        groups = [self._smo_houses[s] for s, _ in items]
        if not groups or not all(len(g) for g in groups):
            return {}
        idx = np.concatenate(groups)
        starts = np.cumsum([0] + [len(g) for g in groups[:-1]])
        pt = split_groups(np.array([sp.p_kw for _, sp in items]),
                          Range(f.agent.p0[idx], f.agent.lo[idx], f.agent.hi[idx]),
                          trust[idx], starts)
        qt = split_groups(np.array([sp.q_kvar for _, sp in items]),
                          Range(f.agent_q.p0[idx], f.agent_q.lo[idx], f.agent_q.hi[idx]),
                          trust[idx], starts)
        return {s: (a, b) for (s, _), a, b in zip(items, np.split(pt, starts[1:]),
                                                  np.split(qt, starts[1:]), strict=True)}

    def _to_devices(self, houses: np.ndarray, delta: np.ndarray) -> None:
        """Split each agent's delta over its devices in proportion to headroom."""
        p, f, m = self.model.pop, self.flex, self.model
        assert f is not None
        n = p.n_houses
        d = np.zeros(n)
        d[houses] = delta
        groups = [(np.arange(n), f.hvac, "disp_hvac"), (p.wh_house, f.wh, "disp_wh"),
                  (p.pv_house, f.pv, "disp_pv"), (p.bat_house, f.bat, "disp_bat"),
                  (p.ev_house, f.ev, "disp_ev")]
        up = d > 0
        room = np.zeros(n)
        heads = []
        for owner, r, _ in groups:
            h = np.where(up[owner], r.hi - r.p0, r.p0 - r.lo)
            heads.append(h)
            np.add.at(room, owner, h)
        frac = np.where(room > 1e-12, np.abs(d) / np.maximum(room, 1e-12), 0.0).clip(0, 1)
        sel = np.zeros(n, bool)
        sel[houses] = True
        for (owner, r, attr), h in zip(groups, heads, strict=True):
            value = r.p0 + np.sign(d[owner]) * frac[owner] * h
            if attr in ("disp_pv", "disp_ev"):  # untouched PV/EVs stay under local control
                value = np.where(np.abs(value - r.p0) > 1e-12, value, np.nan)
            arr = getattr(m, attr)
            arr[sel[owner]] = value[sel[owner]]

    def _q_to_inverters(self, houses: np.ndarray, q_inv: np.ndarray) -> None:
        """Set each agent's inverters to the total `q_inv` (within +-capability), shared in
        proportion to their capability."""
        p, f, m = self.model.pop, self.flex, self.model
        assert f is not None
        n = p.n_houses
        want, cap = np.zeros(n), np.zeros(n)
        want[houses] = q_inv
        np.add.at(cap, p.pv_house, f.pv_qcap)
        np.add.at(cap, p.bat_house, f.bat_qcap)
        frac = np.where(cap > 1e-12, want / np.maximum(cap, 1e-12), 0.0).clip(-1, 1)
        sel = np.zeros(n, bool)
        sel[houses] = True
        for owner, qcap, attr in ((p.pv_house, f.pv_qcap, "disp_pv_q"),
                                  (p.bat_house, f.bat_qcap, "disp_bat_q")):
            getattr(m, attr)[sel[owner]] = (frac[owner] * qcap)[sel[owner]]

    # ---------------------------------------------------------------- attacks
    def on_attack(self, cmd: AttackCommand) -> None:
        if cmd.action == "start":
            if cmd.attack_id in self.attacks_active:
                attacks.apply(self.model, self.attacks_active.pop(cmd.attack_id), on=False)
            self.attacks_active[cmd.attack_id] = attacks.start(self.model, cmd, self.last)
        elif cmd.attack_id in self.attacks_active:
            attacks.apply(self.model, self.attacks_active.pop(cmd.attack_id), on=False)
            for other in self.attacks_active.values():  # overlapping attacks stay applied
                attacks.apply(self.model, other, on=True)

    # ---------------------------------------------------------------- after each step
    def after_step(self, res: StepResult) -> list[Response]:
        """Responses of the SMOs following setpoints; accumulates telemetry indicators."""
        return [Response.model_validate(d) for d in self.response_dicts(res)]

    def track(self, res: StepResult) -> tuple[np.ndarray, np.ndarray]:
        """Accumulate the telemetry indicators of one step; (active, scheduled kW) per house."""
        self.last = res
        m = self.model
        active = res.time < m.disp_until
        sched = np.where(active, self.scheduled, np.nan)
        err = np.where(active, res.house_kw - sched, 0.0)
        width = np.maximum(self.flex.agent.hi - self.flex.agent.lo, 0.5) if self.flex else 1.0
        track = np.clip(np.abs(err) / width, 0.0, 1.0)
        self.err_sum += err
        self.anom_sum += np.maximum(track, res.hvac_unexpected.astype(float))
        self.count += 1
        late = ~np.isnan(self.awaiting) & (res.time + res.dt >= self.awaiting)
        self.missed[late] += 1
        self.awaiting[late] = np.nan
        return active, sched

    def response_dicts(self, res: StepResult, time: float | None = None,
                       emit: bool = True) -> list[dict]:
        """`after_step` as plain Response dicts (JSON-ready, no pydantic), stamped `time`
        (default: the step's time). Every call accumulates the step; with `emit=False`
        nothing is returned and the per-agent columns of the next Response are the means
        over all steps since the last one (SMO totals are always this step's)."""
        active, sched = self.track(res)
        self.resp_kw[active] += res.house_kw[active]
        self.resp_sched[active] += sched[active]
        self.resp_steps[active] += 1
        if not emit:
            return []
        if not active.any():
            self.resp_kw[:], self.resp_sched[:], self.resp_steps[:] = 0.0, 0.0, 0.0
            return []
        p = self.model.pop
        t = res.time if time is None else time
        steps = np.maximum(self.resp_steps, 1.0)
        # active houses in SMO order; SMO s owns positions bounds[s]:bounds[s + 1] of them
        keep = active[self._smo_order]
        ids = self._smo_order[keep]
        (sched_sum, kw_sum), counts = self._segment_sums(
            np.stack([sched[self._smo_order], res.house_kw[self._smo_order]]), keep)
        bounds = np.cumsum(np.append(0, counts)).tolist()
        sched_sum, kw_sum = sched_sum.tolist(), kw_sum.tolist()
        names = [self._names[i] for i in ids.tolist()]
        sched_l = (self.resp_sched / steps)[ids].tolist()
        kw_l = (self.resp_kw / steps)[ids].tolist()
        out = []
        for s in np.flatnonzero(counts).tolist():
            a, b = bounds[s], bounds[s + 1]
            out.append({
                "time": t, "smo": p.smos[s], "scheduled_kw": sched_sum[s],
                "achieved_kw": kw_sum[s], "agents": names[a:b],
                "agent_scheduled_kw": sched_l[a:b], "agent_achieved_kw": kw_l[a:b]})
        self.resp_kw[:], self.resp_sched[:], self.resp_steps[:] = 0.0, 0.0, 0.0
        return out

    def telemetry(self, time: float) -> list[Telemetry]:
        """Per-SMO indicators averaged since the last call (then reset)."""
        return [Telemetry.model_validate(d) for d in self.telemetry_dicts(time)]

    def telemetry_dicts(self, time: float) -> list[dict]:
        """`telemetry` as plain Telemetry dicts (JSON-ready); resets the window."""
        p = self.model.pop
        c = max(self.count, 1)
        err, anom = self.err_sum / c, self.anom_sum / c
        out = []
        for s, smo in enumerate(p.smos):
            idx = self._smo_houses[s]
            out.append({"time": time, "smo": smo, "agents": [self._names[i] for i in idx],
                        "response_error_kw": err[idx].tolist(), "anomaly": anom[idx].tolist(),
                        "messages_missed": [int(self.missed[s])] * len(idx)})
        self.err_sum[:], self.anom_sum[:], self.count = 0.0, 0.0, 0
        return out

    def summary(self, res: StepResult) -> PopulationSummary:
        return PopulationSummary.model_validate(self.summary_dict(res))

    def summary_dict(self, res: StepResult, time: float | None = None) -> dict:
        """`summary` as a plain PopulationSummary dict (JSON-ready, fields in the model's
        order), stamped `time` (default: the step's time)."""
        m, p = self.model, self.model.pop
        plugged = connected(p.ev, res.time)
        return {
            "time": res.time if time is None else time,
            "total_kw": float(res.bus_kw.sum()), "total_kvar": float(res.bus_kvar.sum()),
            "load_kw": {"hvac": float(res.hvac_kw.sum()), "waterheater": float(res.wh_kw.sum()),
                        "pv": float(res.pv_kw.sum()), "battery": float(res.bat_kw.sum()),
                        "ev": float(res.ev_kw.sum()), "base": float(res.base_kw.sum()),
                        "residual": float(p.residual_kw.sum())},
            "temp_c": _pct(m.ta), "wh_temp_c": _pct(m.wh_temp),
            "soc": _pct(m.bat_e / p.battery.capacity_kwh) if len(p.bat_house) else {},
            "ev_soc": _pct(m.ev_soc[plugged]) if plugged.any() else {},
            "comfort_violations": int(m.comfort_violations().sum()),
            "hvac_on_fraction": float(np.mean(res.hvac_kw > 0)) if p.n_houses else 0.0,
            "dispatched_agents": int((res.time < m.disp_until).sum()),
            "attacked_agents": int(m.attacked().sum())}
