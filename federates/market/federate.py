"""Thin HELICS wrapper of the market operator (all logic lives in `operator.py`).

Interfaces of a federate named `market`:
- endpoint `market/bids`: receives FlexibilityBid and Response messages (sent by the device
  federate from its per-SMO endpoints `<iot>/sp_<smo>`) and sends one Setpoint per SMO to
  `<iot>/sp_<smo>`, so a HELICS filter on one SMO's link cuts only that SMO;
- endpoint `market/coefficients`: CoefficientUpdate messages from the resilience manager;
- subscriptions: `<grid>/state` (GridState); `<resilience>/house_scores` (HouseScores) when a
  resilience manager is in the scenario;
- publications: `market/prices` (Prices), `market/pcc_schedule` (PccSchedule),
  `market/metrics` (MarketMetrics), `market/primary_dispatch` and
  `market/secondary_dispatch` (MarketDispatch: bids vs cleared setpoints per SMO), with
  consumer markets also `market/consumer_dispatch` (their prices and tracking error).
Timing: the market runs in phase 3, after devices and grid. Bids sent by the devices at step
t reach it at t; it clears at t when t is a multiple of its primary / secondary period, and
the setpoints reach the devices at t + dt (one-step control latency). The HELICS period of
the federate should divide both market periods.
"""

from __future__ import annotations

from typing import Any

from federates.checks import check_bus, check_feeder
from federates.market.config import MarketConfig
from federates.messages import (
    CoefficientUpdate,
    FlexibilityBid,
    GridState,
    HouseScores,
    Response,
)
from federates.runtime import (
    PHASES,
    Endpoint,
    FederateWrapper,
    Interfaces,
    Publication,
    RunFacts,
    RuntimeConfig,
    ScenarioContext,
    StepIO,
    Subscription,
)


class MarketFederate(FederateWrapper):
    """Market operator. Receives bids and responses on `bids`, CoefficientUpdate on
    `coefficients`, `grid/state` and the resilience manager's `house_scores`; clears the
    primary and secondary markets on their periods; sends Setpoint to `<iot>/sp_<bus>`;
    publishes `prices` (dLMPs and components), `pcc_schedule`, `metrics` and the dispatch."""

    kind = "market"
    config_model = MarketConfig
    phase = PHASES["market"]
    long_steps = True  # its clearings pace the federation
    config: MarketConfig

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: MarketConfig) -> Interfaces:
        subs = [Subscription(key=config.grid_state_key)] if config.grid_state_key else []
        subs += [Subscription(key=f"{r}/house_scores") for r in config.resilience_federates]
        consumer = ([Publication(port="consumer_dispatch", payload="MarketDispatch",
                                 units="kW")] if config.consumer.smos else [])
        return Interfaces(
            publications=[Publication(port="prices", payload="Prices", units="$/kWh"),
                          Publication(port="pcc_schedule", payload="PccSchedule", units="kW"),
                          Publication(port="metrics", payload="MarketMetrics"),
                          Publication(port="primary_dispatch", payload="MarketDispatch",
                                      units="kW"),
                          Publication(port="secondary_dispatch", payload="MarketDispatch",
                                      units="kW"), *consumer],
            subscriptions=subs,
            endpoints=[Endpoint(port="bids", payload="FlexibilityBid|Response|Setpoint"),
                       Endpoint(port="coefficients", payload="CoefficientUpdate")],
        )

    @classmethod
    def autowire(cls, name: str, config: MarketConfig, context: ScenarioContext) -> MarketConfig:
        kinds: dict[str, list[str]] = {}
        for fed, kind in context.federates.items():
            kinds.setdefault(kind, []).append(fed)
        update: dict[str, Any] = {}
        if not config.feeder:
            update["feeder"] = context.feeder
        if not config.iot_federates:
            update["iot_federates"] = kinds.get("iot", [])
        if not config.resilience_federates:
            update["resilience_federates"] = kinds.get("resilience", [])
        grids = kinds.get("grid", [])
        if config.grid_state_key == "grid/state":
            update["grid_state_key"] = f"{grids[0]}/state" if grids else ""
        return config.model_copy(update=update)

    @classmethod
    def use_facts(cls, name: str, config: MarketConfig, facts: RunFacts) -> MarketConfig:
        """An islanded grid needs an islanded market on the same grid-forming bus and
        voltage, and the other way round."""
        grids = facts.get("island")
        island = next(((g, f) for g, f in grids if f["enabled"]), None)
        primary = config.primary
        if island is None:
            if primary.islanded and grids:
                raise ValueError("primary.islanded: the grid is not islanded (set federates."
                                 f"{grids[0][0]}.config.{grids[0][1]['field']}.enabled)")
            return config
        grid, isl = island
        where = f"federates.{grid}.config.{isl['field']}"
        if not primary.islanded:
            raise ValueError(f"primary.islanded: must be true: {where}.enabled is true")
        gf = primary.grid_forming
        if isl["former_bus"] and gf.bus and gf.bus.lower() != isl["former_bus"].lower():
            raise ValueError(f"primary.grid_forming.bus: {gf.bus!r} differs from "
                             f"{where}.former_bus {isl['former_bus']!r}")
        if abs(gf.v_pu - isl["v_pu"]) > 1e-9:
            raise ValueError(f"primary.grid_forming.v_pu: {gf.v_pu} differs from "
                             f"{where}.v_pu {isl['v_pu']}")
        return config

    @classmethod
    def check(cls, name: str, config: MarketConfig, context: ScenarioContext) -> None:
        check_feeder("feeder", config.feeder)
        feeder = config.feeder or context.feeder
        for i, smo in enumerate(config.smos):
            check_bus(f"smos[{i}]", smo, feeder)
        unit = config.primary.grid_forming
        if unit is not None and unit.bus:
            check_bus("primary.grid_forming.bus", unit.bus, feeder)

    @classmethod
    def report(cls, name: str, config: MarketConfig, timeseries: Any, plots_dir: Any) -> dict:
        from federates.market.report import market_report

        return market_report(name, config, timeseries, plots_dir)

    # ---------------------------------------------------------------- runtime
    def on_start(self, io: StepIO) -> None:
        from federates.market.operator import MarketOperator  # cvxpy: only where it clears

        self.op = MarketOperator(self.config)
        self.sources: dict[str, str] = {}  # smo -> endpoint that sent its bid

    def _read(self, io: StepIO) -> None:
        cfg = self.config
        if cfg.grid_state_key and io.updated(cfg.grid_state_key):
            state = io.get(cfg.grid_state_key, GridState)
            if state is not None:
                self.op.on_grid(state)
        for r in cfg.resilience_federates:
            key = f"{r}/house_scores"
            if io.updated(key):
                scores = io.get(key, HouseScores)
                if scores is not None:
                    self.op.on_house_scores(scores)
        for source, msg in io.receive_from("bids", FlexibilityBid, Response):
            if isinstance(msg, FlexibilityBid):
                self.op.on_bid(msg)
                self.sources[msg.smo] = source
            elif isinstance(msg, Response):
                self.op.on_response(msg)
        for update in io.receive("coefficients", CoefficientUpdate):
            self.op.on_coefficients(update)

    def destination(self, smo: str) -> str | None:
        """The device endpoint of an SMO: where its bid came from, else '<iot>/sp_<smo>'."""
        if smo in self.sources:
            return self.sources[smo]
        if self.config.iot_federates:
            return f"{self.config.iot_federates[0]}/{self.config.setpoint_port_prefix}{smo}"
        return None

    def on_step(self, io: StepIO) -> None:
        self._read(io)
        out = self.op.clear(io.time)
        for sp in out.setpoints:
            dest = self.destination(sp.smo)
            if dest:
                io.send("bids", dest, sp)
        if out.prices is not None:
            io.publish("prices", out.prices)
        if out.schedule is not None:
            io.publish("pcc_schedule", out.schedule)
        if out.metrics is not None:
            io.publish("metrics", out.metrics)
        for d in out.dispatch:
            io.publish(f"{d.kind}_dispatch", d)
