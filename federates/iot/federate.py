"""Thin HELICS wrapper of the device population (all logic lives in the pure modules).

Interfaces of a federate named `houses`:
- publication `houses/injections` (InjectionSet): net P/Q per (bus, phase) every step,
  load convention, residual constant load included;
- publication `houses/summary` (PopulationSummary): aggregates for the recorder and report;
- endpoint `houses/sp_<smo>` per SMO (bus): receives that SMO's Setpoint messages and sends
  its FlexibilityBid (to `market`), Response (to `market` and `resilience`, every
  `response_period_s`) and Telemetry (to `resilience`). One endpoint per SMO lets the
  attacker cut or delay one bus's link with a HELICS filter (issue 5);
- endpoint `houses/attack`: receives AttackCommand messages.
Timing: devices run in phase 1, before the grid, so the grid's solve at t uses the
injections of t. A bid sent at step t covers [t + dt, t + dt + market period); the market
(phase 3) answers in the same step and the setpoint acts from t + dt on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic_core import to_json

from federates.checks import check_bus, check_feeder, read_csv
from federates.common.weather import load as load_weather
from federates.iot.agents import Coordinator
from federates.iot.config import IotConfig
from federates.iot.model import StepResult, settled_model
from federates.iot.population import Population, build
from federates.messages import (
    AttackCommand,
    FlexibilityBid,
    GridState,
    InjectionSet,
    Response,
    Setpoint,
    Telemetry,
)
from federates.runtime import (
    Endpoint,
    FederateWrapper,
    Interfaces,
    Publication,
    RuntimeConfig,
    ScenarioContext,
    StepIO,
    Subscription,
)


def load_table(config: IotConfig) -> pd.DataFrame:
    """The spot loads hosting the population: explicit `loads` or the feeder's."""
    if config.loads is not None:
        return pd.DataFrame([lp.model_dump() for lp in config.loads])
    import feeders

    feeder = feeders.load(config.feeder)
    tables = getattr(feeder, "tables", None)
    loads = getattr(tables, "loads", None)
    return loads if loads is not None and "nodes" in loads else feeder.loads


def build_population(config: IotConfig) -> Population:
    return build(config.population, load_table(config), seed=config.seed or 0)


def bus_resources(pop: Population) -> dict[str, Any]:
    """Per-bus generation (PV + battery ratings) and controllable load [kW], and houses:
    the population's `bus_resources` fact (an attacker's target selection reads it)."""
    bus_of_house = np.array(pop.smos)[pop.smo_index]
    n_bus = len(pop.smos)

    def per_bus(houses: np.ndarray, values: np.ndarray) -> np.ndarray:
        out = np.zeros(n_bus)
        np.add.at(out, pop.smo_index[houses], values)
        return out

    gen = per_bus(pop.pv_house, pop.pv.s_rated_kva) + per_bus(pop.bat_house,
                                                               pop.battery.p_rated_kw)
    hvac = pop.house.hvac.cool_cap_kw / pop.house.hvac.cool_cop
    load = (per_bus(np.arange(pop.n_houses), hvac) + per_bus(pop.wh_house, pop.tank.element_kw)
            + per_bus(pop.ev_house, pop.ev.charger_kw))
    return {
        "buses": list(pop.smos),
        "generation_kw": {b: round(float(v), 3) for b, v in zip(pop.smos, gen, strict=True)},
        "load_kw": {b: round(float(v), 3) for b, v in zip(pop.smos, load, strict=True)},
        "agents": {b: [str(a) for a in pop.agents[bus_of_house == b]] for b in pop.smos},
    }


def injection_dict(pop: Population, res: StepResult, source: str, per_phase: bool,
                   time: float) -> dict[str, Any]:
    """InjectionSet fields as a plain dict (JSON-ready, no pydantic objects: the federate
    serialises it with pydantic-core, the same text as the model's `to_wire`)."""
    if per_phase:
        items = [{"bus": bus, "p_kw": p, "q_kvar": q, "phases": [phase]}
                 for (bus, phase), p, q in zip(pop.bus_phases, res.bus_kw.tolist(),
                                               res.bus_kvar.tolist(), strict=True)]
    else:
        by_bus: dict[str, list] = {}
        for (bus, phase), p, q in zip(pop.bus_phases, res.bus_kw, res.bus_kvar, strict=True):
            acc = by_bus.setdefault(bus, [0.0, 0.0, []])
            acc[0] += p
            acc[1] += q
            acc[2].append(phase)
        items = [{"bus": b, "p_kw": float(p), "q_kvar": float(q), "phases": sorted(ph)}
                 for b, (p, q, ph) in by_bus.items()]
    return {"source": source, "time": float(time), "items": items}


def injections(pop: Population, res: StepResult, source: str, per_phase: bool,
               time: float) -> InjectionSet:
    return InjectionSet.model_validate(injection_dict(pop, res, source, per_phase, time))


class IotFederate(FederateWrapper):
    """Device population. Publishes `injections` (per-bus InjectionSet) and `summary`
    (PopulationSummary) every step; one endpoint `sp_<bus>` per SMO sends FlexibilityBid,
    Response and Telemetry and receives Setpoint (so one filter cuts one bus's link);
    endpoint `attack` receives AttackCommand. Subscribes to `grid/state` for volt-var."""

    kind = "iot"
    outputs = ("injections",)
    config_model = IotConfig
    config: IotConfig

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: IotConfig) -> Interfaces:
        smos = build_population(config).smos
        subs = [Subscription(key=config.grid_state)] if config.grid_state else []
        return Interfaces(
            publications=[Publication(port="injections", payload="InjectionSet", units="kW"),
                          Publication(port="summary", payload="PopulationSummary")],
            subscriptions=subs,
            endpoints=[Endpoint(port="attack", payload="AttackCommand")] + [
                Endpoint(port=f"sp_{s}", payload="Setpoint") for s in smos],
        )

    @classmethod
    def run_facts(cls, name: str, config: IotConfig) -> dict[str, Any]:
        return {"bus_resources": lambda: bus_resources(build_population(config))}

    @classmethod
    def autowire(cls, name: str, config: IotConfig, context: ScenarioContext) -> IotConfig:
        update: dict[str, Any] = {}
        if not config.feeder:
            update["feeder"] = context.feeder
        if config.seed is None:
            update["seed"] = context.seed
        by_kind = {k: [n for n, kk in context.federates.items() if kk == k]
                   for k in ("market", "resilience", "grid")}
        if config.market is None and by_kind["market"]:
            update["market"] = f"{by_kind['market'][0]}/bids"
        if config.resilience is None and by_kind["resilience"]:
            update["resilience"] = f"{by_kind['resilience'][0]}/telemetry"
        if config.grid_state is None and config.population.pv.volt_var and by_kind["grid"]:
            update["grid_state"] = f"{by_kind['grid'][0]}/state"
        return config.model_copy(update=update)

    @classmethod
    def check(cls, name: str, config: IotConfig, context: ScenarioContext) -> None:
        check_feeder("feeder", config.feeder)
        feeder = config.feeder or context.feeder
        for i, point in enumerate(config.loads or []):
            check_bus(f"loads[{i}].bus", point.bus, feeder)
        if config.weather not in ("summer", "winter"):
            read_csv("weather", config.weather, {"temp_c", "ghi_w_m2"},
                     time_columns=("time_s", "hour"))

    @classmethod
    def report(cls, name: str, config: IotConfig, timeseries: Any, plots_dir: Any) -> dict:
        from federates.iot.report import report

        return report(name, timeseries, plots_dir)

    # ---------------------------------------------------------------- runtime
    def on_start(self, io: StepIO) -> None:
        cfg = self.config
        self.pop = build_population(cfg)
        self.offset = cfg.start_hour * 3600.0
        self.model = settled_model(self.pop, load_weather(cfg.weather), self.offset,
                                   cfg.spin_up_h * 3600.0,
                                   max(cfg.spin_up_step_s, self.runtime.period))
        self.coord = Coordinator(self.model, self.runtime.period, cfg.market_period_s,
                                 cfg.beta_per_band, cfg.alpha_gen, cfg.bid_agent_detail)
        self.bus_phase_index = {bp: i for i, bp in enumerate(self.pop.bus_phases)}
        self.next_bid = 0.0
        self.next_telemetry = cfg.telemetry_period_s
        self.next_response = 0.0

    def _voltages(self, io: StepIO) -> None:
        if not self.config.grid_state or not io.updated(self.config.grid_state):
            return
        state = io.get(self.config.grid_state, GridState)
        if state is None:
            return
        v = dict(zip(state.node_names, state.v_pu, strict=True))
        self.model.v_pu = np.array([v.get(f"{b}.{ph}", 1.0) for b, ph in self.pop.bus_phases])

    def on_step(self, io: StepIO) -> None:
        cfg, dt = self.config, self.runtime.period
        t = io.time + self.offset
        self._voltages(io)
        if io.has_messages():  # one HELICS call instead of polling every endpoint
            for command in io.receive("attack", AttackCommand):
                self.coord.on_attack(command)
            received = [sp for smo in self.pop.smos for sp in io.receive(f"sp_{smo}", Setpoint)]
            if self.offset:
                received = [sp.model_copy(update={"period_start": sp.period_start + self.offset,
                                                  "period_end": sp.period_end + self.offset})
                            for sp in received]
            if received:
                self.coord.apply_setpoints(received)
        res = self.model.step(t, dt)
        # payloads are built as plain dicts and serialised once by pydantic-core (the same
        # JSON as the pydantic models would give, without validating thousands of them)
        io.publish("injections", to_json(injection_dict(self.pop, res, io.name, cfg.per_phase,
                                                        io.time), inf_nan_mode="null").decode())
        io.publish("summary", to_json(self.coord.summary_dict(res, io.time),
                                      inf_nan_mode="null").decode())
        dests = [d for d in (cfg.market, cfg.resilience) if d]
        if dests:
            period = cfg.response_period_s
            period = cfg.market_period_s if period is None else period
            emit = io.time >= self.next_response - 1e-9
            if emit:
                self.next_response += period
            for r in self.coord.response_dicts(res, io.time, emit=emit):
                text = to_json(r).decode()
                for dest in dests:
                    io.send(f"sp_{r['smo']}", dest, text, Response)
        else:
            self.coord.track(res)
        if cfg.market and io.time >= self.next_bid - 1e-9:
            for bid in self.coord.bid_dicts(t + dt, io.time):
                bid["period_start"] -= self.offset
                bid["period_end"] -= self.offset
                io.send(f"sp_{bid['smo']}", cfg.market, to_json(bid).decode(), FlexibilityBid)
            self.next_bid += cfg.market_period_s
        if cfg.resilience and io.time + dt >= self.next_telemetry - 1e-9:
            for tel in self.coord.telemetry_dicts(io.time):
                io.send(f"sp_{tel['smo']}", cfg.resilience, to_json(tel).decode(), Telemetry)
            self.next_telemetry += cfg.telemetry_period_s
