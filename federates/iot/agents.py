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

import numpy as np

from federates.iot import attacks
from federates.iot.ev import connected
from federates.iot.flex import Flexibility, Range, device_ranges, split, split_groups
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


def _pct(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {}
    return {f"p{q}": float(v) for q, v in zip(PCTS, np.percentile(x, PCTS), strict=True)}


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
        if self.agent_detail:
            cols = dict(zip(FlexibilityBid.COLUMNS, np.stack(np.broadcast_arrays(
                f.agent.p0, f.agent_q.p0, f.agent.lo, f.agent.hi, f.agent_q.lo, f.agent_q.hi,
                np.where(has_gen, self.alpha_gen, 0.0), beta, f.gen_headroom))[:, order]
                .tolist(), strict=True))
            names = [self._names[i] for i in order.tolist()]
        out = []
        for s, smo in enumerate(p.smos):
            idx = self._smo_houses[s]
            flexible = idx[f.agent.hi[idx] - f.agent.lo[idx] > 1e-9]
            agg_beta = 1.0 / np.sum(1.0 / beta[flexible]) if len(flexible) else 0.0
            bid = {
                "time": time, "smo": smo, "period_start": f.t0, "period_end": f.t1,
                "p0_kw": float(f.agent.p0[idx].sum()), "q0_kvar": float(f.agent_q.p0[idx].sum()),
                "p_min_kw": float(f.agent.lo[idx].sum()), "p_max_kw": float(f.agent.hi[idx].sum()),
                "q_min_kvar": float(f.agent_q.lo[idx].sum()),
                "q_max_kvar": float(f.agent_q.hi[idx].sum()),
                "alpha": self.alpha_gen if has_gen[idx].any() else 0.0, "beta": float(agg_beta)}
            if self.agent_detail:
                a, b = bounds[s], bounds[s + 1]
                bid["agents"] = names[a:b]
                bid.update((c, v[a:b]) for c, v in cols.items())
            out.append(bid)
            self.awaiting[s] = f.t1
        return out

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
        houses, delta, q_inv, until = [], [], [], []
        for s, sp in latest.items():
            self.awaiting[s] = np.nan
            idx = self._smo_houses[s]
            r = Range(f.agent.p0[idx], f.agent.lo[idx], f.agent.hi[idx])
            rq = Range(f.agent_q.p0[idx], f.agent_q.lo[idx], f.agent_q.hi[idx])
            if sp.agents and sp.agents == self._smo_names[s]:  # usual: all, in order
                target = np.clip(np.array(sp.agent_p_kw), r.lo, r.hi)
                q_target = np.clip(sp.agent_q_kvar, rq.lo, rq.hi)
            elif sp.agents:
                names = self._smo_names[s]
                given = dict(zip(sp.agents, sp.agent_p_kw, strict=True))
                target = np.clip(np.array([given.get(a, x) for a, x in
                                           zip(names, r.p0.tolist(), strict=True)]),
                                 r.lo, r.hi)
                given_q = dict(zip(sp.agents, sp.agent_q_kvar, strict=True))
                q_target = np.clip([given_q.get(a, x) for a, x in
                                    zip(names, rq.p0.tolist(), strict=True)], rq.lo, rq.hi)
            elif s in shared:
                target, q_target = shared[s]
            else:
                target = split(sp.p_kw, r, p.trust[idx])
                q_target = split(sp.q_kvar, rq, p.trust[idx])
            self.scheduled[idx] = target
            houses.append(idx)
            delta.append(target - r.p0)
            q_inv.append(q_target - rq.lo - (rq.hi - rq.lo) / 2)
            until.append(min(sp.period_end, f.t1) if sp.period_end > sp.period_start else f.t1)
        idx = np.concatenate(houses)
        m.disp_cooling[idx] = f.cooling[idx]
        m.disp_hp_max[idx] = f.hvac_cap[idx]
        self._to_devices(idx, np.concatenate(delta))
        self._q_to_inverters(idx, np.concatenate(q_inv))
        m.disp_until[idx] = np.repeat(until, [len(h) for h in houses])
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
        sched_l = (self.resp_sched / steps).tolist()
        kw_l, names = (self.resp_kw / steps).tolist(), self._names
        out = []
        for s in np.flatnonzero(np.bincount(p.smo_index[active], minlength=len(p.smos))):
            idx = self._smo_houses[s]
            idx = idx[active[idx]]
            ids = idx.tolist()
            out.append({
                "time": t, "smo": p.smos[s], "scheduled_kw": float(sched[idx].sum()),
                "achieved_kw": float(res.house_kw[idx].sum()),
                "agents": [names[i] for i in ids],
                "agent_scheduled_kw": [sched_l[i] for i in ids],
                "agent_achieved_kw": [kw_l[i] for i in ids]})
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
        m, p = self.model, self.model.pop
        plugged = connected(p.ev, res.time)
        return PopulationSummary(
            time=res.time, total_kw=float(res.bus_kw.sum()), total_kvar=float(res.bus_kvar.sum()),
            load_kw={"hvac": float(res.hvac_kw.sum()), "waterheater": float(res.wh_kw.sum()),
                     "pv": float(res.pv_kw.sum()), "battery": float(res.bat_kw.sum()),
                     "ev": float(res.ev_kw.sum()), "base": float(res.base_kw.sum()),
                     "residual": float(p.residual_kw.sum())},
            temp_c=_pct(m.ta), wh_temp_c=_pct(m.wh_temp),
            soc=_pct(m.bat_e / p.battery.capacity_kwh) if len(p.bat_house) else {},
            ev_soc=_pct(m.ev_soc[plugged]) if plugged.any() else {},
            comfort_violations=int(m.comfort_violations().sum()),
            hvac_on_fraction=float(np.mean(res.hvac_kw > 0)) if p.n_houses else 0.0,
            dispatched_agents=int((res.time < m.disp_until).sum()),
            attacked_agents=int(m.attacked().sum()))
