"""Resilience manager federate: thin HELICS wrapper around `ResilienceManager`.

Inputs: measured PCC import ('<grid>/pcc_power' vector, or '<grid>/state'; with
`watch: grid_forming` the grid-forming unit's output `island_p_kw` of '<grid>/state'), the
market's '<market>/pcc_schedule' (PccSchedule), and Telemetry / Response messages that reach its
endpoint '<name>/telemetry' (the device federate sends them from its per-SMO endpoints, so
an attacker's filters can cut them). It is never told which nodes are attacked.
Outputs: '<name>/state' (MitigationState), '<name>/scores' (SMO Scores, when updated),
'<name>/house_scores' (HouseScores),
'<name>/alerts' (latest Alert) and CoefficientUpdate messages from '<name>/coefficients'
to the market.
"""

from __future__ import annotations

from typing import Any

from federates.messages import GridState, PccSchedule, Response, Telemetry
from federates.resilience.config import ResilienceConfig
from federates.resilience.manager import ResilienceManager
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


class ResilienceFederate(FederateWrapper):
    """Resilience manager. Sees only measured PCC power (`grid/pcc_power`), the market's
    `pcc_schedule` and the telemetry that reaches its `telemetry` endpoint; detects attacks,
    scores agents, sends re-weighted coefficients to `<market>/coefficients`; publishes
    `state`, `scores`, `house_scores` and `alerts`."""

    kind = "resilience"
    config_model = ResilienceConfig
    phase = PHASES["resilience"]
    config: ResilienceConfig

    @classmethod
    def interfaces(cls, runtime: RuntimeConfig, config: ResilienceConfig) -> Interfaces:
        subs = [Subscription(key=config.pcc_key,
                             type="vector" if config.pcc_type == "vector" else "string")]
        if config.schedule_key:
            subs.append(Subscription(key=config.schedule_key))
        return Interfaces(
            publications=[Publication(port="state", payload="MitigationState"),
                          Publication(port="scores", payload="Scores"),
                          Publication(port="house_scores", payload="HouseScores"),
                          Publication(port="alerts", payload="Alert")],
            subscriptions=subs,
            endpoints=[Endpoint(port="telemetry", payload="Telemetry|Response"),
                       Endpoint(port="coefficients", payload="CoefficientUpdate")],
        )

    @classmethod
    def autowire(cls, name: str, config: ResilienceConfig,
                 context: ScenarioContext) -> ResilienceConfig:
        kinds: dict[str, list[str]] = {}
        for fed, kind in context.federates.items():
            kinds.setdefault(kind, []).append(fed)
        update: dict[str, Any] = {} if config.feeder else {"feeder": context.feeder}
        grids, markets = kinds.get("grid", []), kinds.get("market", [])
        if grids and config.pcc_key.startswith("grid/"):
            update["pcc_key"] = grids[0] + config.pcc_key.removeprefix("grid")
        # default keys name the market 'market': follow its real name, or drop them
        if config.schedule_key.startswith("market/"):
            update["schedule_key"] = (markets[0] + config.schedule_key.removeprefix("market")
                                      if markets else "")
        endpoint = config.coefficients_endpoint or ""
        if endpoint.startswith("market/"):
            update["coefficients_endpoint"] = (markets[0] + endpoint.removeprefix("market")
                                               if markets else None)
        return config.model_copy(update=update)

    @classmethod
    def use_facts(cls, name: str, config: ResilienceConfig, facts: RunFacts) -> ResilienceConfig:
        """An islanded feeder imports nothing: the manager must watch the grid-forming unit."""
        island = next((g for g, f in facts.get("island") if f["enabled"]), None)
        if island is not None and config.watch != "grid_forming":
            raise ValueError(f"watch: must be 'grid_forming': federates.{island} runs "
                             "islanded, so the PCC import is always 0")
        return config

    def on_start(self, io: StepIO) -> None:
        self.manager = ResilienceManager(self.config)
        self.measured_kw: float | None = None

    def _read_inputs(self, io: StepIO) -> None:
        cfg = self.config
        if cfg.pcc_type == "vector":
            value = io.get_raw(cfg.pcc_key)
            if value:
                self.measured_kw = float(value[0])
        else:
            state = io.get(cfg.pcc_key, GridState)
            if state is not None:
                self.measured_kw = (state.island_p_kw if cfg.watch == "grid_forming"
                                    else state.pcc_p_kw)
        if cfg.schedule_key and io.updated(cfg.schedule_key):
            schedule = io.get(cfg.schedule_key, PccSchedule)
            if schedule is not None:
                self.manager.add_schedule(schedule)
        for _, report in io.receive_from("telemetry", Telemetry, Response):
            if isinstance(report, Telemetry):
                self.manager.add_telemetry(report)
            elif isinstance(report, Response):
                self.manager.add_response(report)

    def on_step(self, io: StepIO) -> None:
        self._read_inputs(io)
        if self.measured_kw is None:
            return
        out = self.manager.step(io.time, self.measured_kw)
        for alert in out.alerts:
            io.publish("alerts", alert)
        if out.update is not None and self.config.coefficients_endpoint:
            io.send("coefficients", self.config.coefficients_endpoint, out.update)
        if out.scores is not None:
            io.publish("scores", out.scores)
        if out.house_scores is not None:
            io.publish("house_scores", out.house_scores)
        if out.state is not None:
            io.publish("state", out.state)

    @classmethod
    def counterfactual_variants(cls, name: str,
                                config: ResilienceConfig) -> dict[str, dict[str, Any]]:
        """`no_mitigation`: the manager detects and scores but sends no update."""
        return {"no_mitigation": {f"{name}.mitigation": False}}

    @classmethod
    def compare_variants(cls, name: str, config: ResilienceConfig,
                         runs: dict[str, dict[str, Any]]) -> tuple[dict, str] | None:
        from federates.resilience.comparison import compare, comparison_markdown

        data = compare(name, runs)
        return data, comparison_markdown(data)

    @classmethod
    def report(cls, name: str, config: ResilienceConfig, timeseries: Any,
               plots_dir: Any) -> dict:
        from federates.resilience.report import resilience_report

        return resilience_report(name, config, timeseries, plots_dir)
