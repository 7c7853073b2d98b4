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
from federates.iot.flex import Flexibility, Range, device_ranges, split
from federates.iot.model import PopulationModel, StepResult
from federates.messages import (
    AgentResponse,
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
    agent_detail: bool = True  # per-SMA AgentBid entries in each bid
    flex: Flexibility | None = None
    scheduled: np.ndarray = field(default_factory=lambda: np.zeros(0))
    attacks_active: dict[str, attacks.ActiveAttack] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.model.pop.n_houses
        self.scheduled = np.full(n, np.nan)
        self.err_sum, self.anom_sum, self.count = np.zeros(n), np.zeros(n), 0
        self.missed = np.zeros(len(self.model.pop.smos), dtype=int)
        self.awaiting = np.full(len(self.model.pop.smos), np.nan)  # period end per SMO
        self.last: StepResult | None = None

    # ---------------------------------------------------------------- bids
    def bids(self, t_start: float, time: float) -> list[FlexibilityBid]:
        """One bid per SMO for [t_start, t_start + market period)."""
        return [FlexibilityBid.model_validate(d) for d in self.bid_dicts(t_start, time)]

    def bid_messages(self, t_start: float, time: float) -> list[tuple[str, str]]:
        """(smo, JSON FlexibilityBid) per SMO, built without pydantic (fast for 100k)."""
        return [(d["smo"], json.dumps(d)) for d in self.bid_dicts(t_start, time)]

    def bid_dicts(self, t_start: float, time: float) -> list[dict]:
        """FlexibilityBid fields per SMO (plain dicts) for [t_start, t_start + period)."""
        n_steps = max(int(round(self.market_period_s / self.dt)), 1)
        f = device_ranges(self.model, t_start, self.dt, n_steps)
        self.flex = f
        p = self.model.pop
        beta = self.beta_per_band / p.comfort_band
        has_gen = f.gen_headroom > 1e-9
        names = p.agents.tolist()
        keys = ("p0_kw", "q0_kvar", "p_min_kw", "p_max_kw", "q_min_kvar", "q_max_kvar",
                "alpha", "beta", "gen_max_kw")
        cols = [x.tolist() for x in (f.agent.p0, f.agent_q.p0, f.agent.lo, f.agent.hi,
                                     f.agent_q.lo, f.agent_q.hi,
                                     np.where(has_gen, self.alpha_gen, 0.0), beta,
                                     f.gen_headroom)]
        out = []
        for s, smo in enumerate(p.smos):
            idx = np.flatnonzero(p.smo_index == s)
            agents = [{"agent": names[i], **{k: c[i] for k, c in zip(keys, cols, strict=True)}}
                      for i in idx] if self.agent_detail else []
            flexible = idx[f.agent.hi[idx] - f.agent.lo[idx] > 1e-9]
            agg_beta = 1.0 / np.sum(1.0 / beta[flexible]) if len(flexible) else 0.0
            out.append({
                "time": time, "smo": smo, "period_start": f.t0, "period_end": f.t1,
                "p0_kw": float(f.agent.p0[idx].sum()), "q0_kvar": float(f.agent_q.p0[idx].sum()),
                "p_min_kw": float(f.agent.lo[idx].sum()), "p_max_kw": float(f.agent.hi[idx].sum()),
                "q_min_kvar": float(f.agent_q.lo[idx].sum()),
                "q_max_kvar": float(f.agent_q.hi[idx].sum()),
                "alpha": self.alpha_gen if has_gen[idx].any() else 0.0, "beta": float(agg_beta),
                "agents": agents})
            self.awaiting[s] = f.t1
        return out

    # ---------------------------------------------------------------- setpoints
    def apply_setpoint(self, sp: Setpoint) -> bool:
        """Distribute one SMO setpoint to its devices; False if it cannot be used."""
        p, f, m = self.model.pop, self.flex, self.model
        if f is None or sp.smo not in p.smos:
            return False
        s = p.smos.index(sp.smo)
        self.awaiting[s] = np.nan
        idx = np.flatnonzero(p.smo_index == s)
        r = Range(f.agent.p0[idx], f.agent.lo[idx], f.agent.hi[idx])
        if sp.agents:
            given = {a.agent: a.p_kw for a in sp.agents}
            target = np.array([given.get(str(a), r.p0[k]) for k, a in enumerate(p.agents[idx])])
            target = np.clip(target, r.lo, r.hi)
        else:
            target = split(sp.p_kw, r, p.trust[idx])
        self.scheduled[idx] = target
        m.disp_cooling[idx] = f.cooling[idx]
        m.disp_hp_max[idx] = f.hvac_cap[idx]
        self._to_devices(idx, target - r.p0)
        rq = Range(f.agent_q.p0[idx], f.agent_q.lo[idx], f.agent_q.hi[idx])
        if sp.agents:
            given_q = {a.agent: a.q_kvar for a in sp.agents}
            q_target = np.clip([given_q.get(str(a), rq.p0[k]) for k, a in
                                enumerate(p.agents[idx])], rq.lo, rq.hi)
        else:
            q_target = split(sp.q_kvar, rq, p.trust[idx])
        self._q_to_inverters(idx, q_target - f.agent_q.lo[idx] - (rq.hi - rq.lo) / 2)
        m.disp_until[idx] = min(sp.period_end, f.t1) if sp.period_end > sp.period_start else f.t1
        return True

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
        self.last = res
        m, p = self.model, self.model.pop
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
        out = []
        for s in np.unique(p.smo_index[active]):
            idx = np.flatnonzero((p.smo_index == s) & active)
            out.append(Response(
                time=res.time, smo=p.smos[s], scheduled_kw=float(sched[idx].sum()),
                achieved_kw=float(res.house_kw[idx].sum()),
                agents=[AgentResponse(agent=str(p.agents[i]), scheduled_kw=float(sched[i]),
                                      achieved_kw=float(res.house_kw[i])) for i in idx]))
        return out

    def telemetry(self, time: float) -> list[Telemetry]:
        """Per-SMO indicators averaged since the last call (then reset)."""
        p = self.model.pop
        c = max(self.count, 1)
        out = []
        for s, smo in enumerate(p.smos):
            idx = np.flatnonzero(p.smo_index == s)
            out.append(Telemetry(time=time, smo=smo, agents=[str(a) for a in p.agents[idx]],
                                 response_error_kw=[float(x) for x in self.err_sum[idx] / c],
                                 anomaly=[float(x) for x in self.anom_sum[idx] / c],
                                 messages_missed=[int(self.missed[s])] * len(idx)))
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
