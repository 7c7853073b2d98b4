"""Wire contract: every payload exchanged between gridfed federates.

Physical quantities travel on HELICS value publications; bids, setpoints, coefficients,
scores and attack commands travel on endpoints (messages) so HELICS filters can delay or
drop them. Every payload is a pydantic model serialised as JSON; `export_schemas()` writes
their JSON schemas so a federate in another language can join a run.

Sign conventions (fixed across the project):
- Power is in kW / kvar. Device and bus powers use the *load convention*: positive means
  power drawn from the grid, negative means power fed into it (PV, discharging battery).
- PCC power is the power imported from the upstream grid (positive = import).
- Voltages are in per unit of the node's nominal line-to-neutral voltage.
- `time` is HELICS time in seconds since scenario start.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Payload(BaseModel):
    """Base of every payload: strict field names, JSON on the wire.

    Every subclass is registered under `payload_ref(cls)` (its class name for the payloads
    of this module, 'module:Class' for a payload a custom kind defines), so a receiver can
    dispatch a message on the type it carries. Bump `VERSION` when a field changes meaning
    or a required field is added: receivers drop (and count) messages of another version.
    """

    model_config = ConfigDict(extra="forbid")
    COLUMNS: ClassVar[tuple[str, ...]] = ()  # per-agent columns (see AgentColumns)
    VERSION: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        _PAYLOAD_TYPES.setdefault(payload_ref(cls), cls)

    def to_wire(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_wire(cls, raw: str | bytes):
        return cls.model_validate_json(raw)

    def rows(self) -> list[tuple[str, str, float]]:
        """Flatten to long-format (signal, id, value) rows for the recorder.

        Numeric scalars give (field, "", v); dicts of numbers give (field, key, v); lists of
        sub-payloads whose first field is an id (agent, bus, smo) give (field.sub, id, v).
        `time` is left out: the recorder stores it in its own column.
        """
        out: list[tuple[str, str, float]] = []
        for name, value in self:
            if name == "time" or name in self.COLUMNS:
                continue
            if isinstance(value, bool | int | float):
                out.append((name, "", float(value)))
            elif isinstance(value, dict):
                out.extend((name, str(k), float(v)) for k, v in value.items()
                           if isinstance(v, bool | int | float))
            elif isinstance(value, list) and value and isinstance(value[0], Payload):
                for item in value:
                    fields = list(item)
                    ident = str(fields[0][1])
                    out.extend((f"{name}.{sub}", ident, float(v)) for sub, v in fields[1:]
                               if isinstance(v, bool | int | float))
        return out


_PAYLOAD_TYPES: dict[str, type[Payload]] = {}


@cache
def payload_ref(model: type[Payload]) -> str:
    """The name a payload type travels under: 'GridState' for this module's payloads,
    'package.module:Class' for others (importable by any federate that must read it)."""
    if model.__module__ == __name__:
        return model.__name__
    return f"{model.__module__}:{model.__qualname__}"


def payload_model(ref: str) -> type[Payload]:
    """The payload model of a `payload_ref` (imports a custom payload's module)."""
    if ref not in _PAYLOAD_TYPES and ":" in ref:
        import importlib

        importlib.import_module(ref.partition(":")[0])
    try:
        return _PAYLOAD_TYPES[ref]
    except KeyError:
        raise KeyError(f"unknown payload type {ref!r}; known: {sorted(_PAYLOAD_TYPES)}") \
            from None


# ---------------------------------------------------------------- typed messages
_ENVELOPE_HEAD = '{"type":"'


def envelope(ref: str, version: int, data: str) -> str:
    """A message on an endpoint: `{"type": REF, "version": N, "data": <payload JSON>}`."""
    return f'{_ENVELOPE_HEAD}{ref}","version":{version},"data":{data}}}'


def open_envelope(raw: str) -> tuple[str, int, str] | None:
    """(type, version, payload JSON) of a message, None if it is not an envelope.

    gridfed writes the keys in this order, so the fast path only slices the text; a
    message from another tool (other key order or spacing) is parsed as JSON.
    """
    if raw.startswith(_ENVELOPE_HEAD):
        end = raw.find('","version":', len(_ENVELOPE_HEAD))
        data = raw.find(',"data":', end + 1) if end > 0 else -1
        if data > 0 and raw.endswith("}"):
            try:
                version = int(raw[end + 12:data])
            except ValueError:
                version = -1
            if version >= 0:
                return raw[len(_ENVELOPE_HEAD):end], version, raw[data + 8:-1]
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    if not (isinstance(parsed, dict) and set(parsed) == {"type", "version", "data"}
            and isinstance(parsed["type"], str) and isinstance(parsed["version"], int)):
        return None
    return parsed["type"], parsed["version"], json.dumps(parsed["data"])


# ---------------------------------------------------------------- physical values


class Injection(Payload):
    """Net power of one source at one grid location (load convention)."""

    bus: str = Field(description="Feeder bus name, e.g. '65'.")
    p_kw: float = Field(description="Active power drawn from the grid [kW] (negative = export).")
    q_kvar: float = Field(0.0, description="Reactive power drawn from the grid [kvar].")
    phases: list[int] | None = Field(
        None, description="Phases (1..3) the power is spread over; None = all phases of the bus."
    )


class InjectionSet(Payload):
    """All injections a source federate applies at time `time` (replaces its previous set)."""

    source: str = Field(description="Publishing federate; injections of different sources add up.")
    time: float
    items: list[Injection]

    def rows(self) -> list[tuple[str, str, float]]:
        """Per-bus totals (per-phase items of one bus are summed): one id per bus."""
        p: dict[str, float] = {}
        q: dict[str, float] = {}
        for item in self.items:
            p[item.bus] = p.get(item.bus, 0.0) + item.p_kw
            q[item.bus] = q.get(item.bus, 0.0) + item.q_kvar
        return [("p_kw", b, v) for b, v in p.items()] + [("q_kvar", b, v) for b, v in q.items()]


class GridState(Payload):
    """Result of one grid power-flow solve (published by the grid federate)."""

    time: float
    converged: bool
    pcc_p_kw: float = Field(description="Active power imported at the PCC [kW].")
    pcc_q_kvar: float = Field(description="Reactive power imported at the PCC [kvar].")
    losses_kw: float
    losses_kvar: float
    v_min_pu: float
    v_max_pu: float
    ansi_a_violations: int = Field(description="Nodes outside ANSI C84.1 range A (0.95-1.05 pu).")
    ansi_b_violations: int = Field(description="Nodes outside ANSI C84.1 range B (0.917-1.058 pu).")
    node_names: list[str] = Field(description="'bus.phase' names, same order as v_pu.")
    v_pu: list[float]
    line_names: list[str]
    line_loading_pct: list[float] = Field(description="Max phase current over normal ampacity [%].")
    tap_names: list[str]
    taps: list[int] = Field(description="Regulator tap positions (-16..16).")
    bus_p_kw: dict[str, float] = Field(
        default_factory=dict, description="Total load at each bus that carries load [kW]."
    )
    island_p_kw: float = Field(
        0.0, description="Islanded grid: active power of the grid-forming unit [kW] (0 when "
        "grid-connected).")
    island_q_kvar: float = Field(0.0, description="Islanded grid: its reactive power [kvar].")

    def rows(self) -> list[tuple[str, str, float]]:
        out = [(n, "", float(getattr(self, n))) for n in (
            "converged", "pcc_p_kw", "pcc_q_kvar", "losses_kw", "losses_kvar", "v_min_pu",
            "v_max_pu", "ansi_a_violations", "ansi_b_violations", "island_p_kw",
            "island_q_kvar")]
        out += [("v_pu", n, v) for n, v in zip(self.node_names, self.v_pu, strict=True)]
        out += [("line_loading_pct", n, v)
                for n, v in zip(self.line_names, self.line_loading_pct, strict=True)]
        out += [("tap", n, float(v)) for n, v in zip(self.tap_names, self.taps, strict=True)]
        out += [("bus_p_kw", b, v) for b, v in self.bus_p_kw.items()]
        return out


class PopulationSummary(Payload):
    """Aggregate state of one IoT device population over the last step (recorder, reports)."""

    time: float
    total_kw: float = Field(description="Net power of the population incl. residual load [kW].")
    total_kvar: float
    load_kw: dict[str, float] = Field(description="Net power by device type [kW]: hvac, "
                                      "waterheater, pv, battery, ev, base, residual.")
    temp_c: dict[str, float] = Field(description="Indoor air temperature percentiles "
                                     "(p5, p25, p50, p75, p95) [degC].")
    wh_temp_c: dict[str, float] = Field(default_factory=dict,
                                        description="Water heater tank temperature percentiles.")
    soc: dict[str, float] = Field(default_factory=dict,
                                  description="Battery SOC percentiles (p5..p95) [0-1].")
    ev_soc: dict[str, float] = Field(default_factory=dict,
                                     description="Plugged-in EV SOC percentiles [0-1].")
    comfort_violations: int = Field(description="Houses outside their comfort band now.")
    hvac_on_fraction: float
    dispatched_agents: int = Field(0, description="Agents following a market setpoint.")
    attacked_agents: int = Field(0, description="Agents under an attacker's control.")


# ---------------------------------------------------------------- market messages


class AgentColumns(Payload):
    """Base of payloads with per-agent columns: `agents` and parallel lists (one entry per
    agent, same order). Columns parse several times faster than a list of objects, and ~100
    of these payloads travel per market period, each with ~10 agents.
    """

    @model_validator(mode="after")
    def _columns_align(self) -> Self:
        n = len(self.agents)  # type: ignore[attr-defined]
        for name in self.COLUMNS:
            got = len(getattr(self, name))
            if got != n:
                raise ValueError(f"{type(self).__name__} {getattr(self, 'smo', '')}: column "
                                 f"{name!r} has {got} entries but 'agents' has {n} (every "
                                 f"per-agent column must have one entry per agent)")
        return self

    def rows(self) -> list[tuple[str, str, float]]:
        """As `Payload.rows`, plus ('agents.<column without agent_>', agent, value) per
        agent and column (the rows a list of per-agent objects would give)."""
        out = super().rows()
        cols = [(f"agents.{c.removeprefix('agent_')}", getattr(self, c)) for c in self.COLUMNS]
        for k, agent in enumerate(self.agents):  # type: ignore[attr-defined]
            out.extend((name, agent, float(col[k])) for name, col in cols)
        return out


class FlexibilityBid(AgentColumns):
    """Bid of one secondary market operator (SMO, a primary-feeder bus) for the next period.

    The per-agent offers (one per house, optional) are columns parallel to `agents`.
    """

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "agent_p0_kw", "agent_q0_kvar", "agent_p_min_kw", "agent_p_max_kw", "agent_q_min_kvar",
        "agent_q_max_kvar", "agent_alpha", "agent_beta", "agent_gen_max_kw")

    time: float
    smo: str = Field(description="SMO id = the primary-feeder bus the houses hang from.")
    period_start: float
    period_end: float
    p0_kw: float
    q0_kvar: float
    p_min_kw: float
    p_max_kw: float
    q_min_kvar: float
    q_max_kvar: float
    alpha: float
    beta: float
    agents: list[str] = Field(default_factory=list, description="Secondary market agents "
                              "(houses) with an offer; every agent_* column has one entry "
                              "per agent, in this order.")
    agent_p0_kw: list[float] = Field(default_factory=list, description="Baseline P per agent.")
    agent_q0_kvar: list[float] = Field(default_factory=list)
    agent_p_min_kw: list[float] = Field(default_factory=list)
    agent_p_max_kw: list[float] = Field(default_factory=list)
    agent_q_min_kvar: list[float] = Field(default_factory=list)
    agent_q_max_kvar: list[float] = Field(default_factory=list)
    agent_alpha: list[float] = Field(default_factory=list, description="Generation cost "
                                     "coefficient per agent [$/kW^2 per period].")
    agent_beta: list[float] = Field(default_factory=list, description="Disutility "
                                    "coefficient per agent [$/kW^2 per period].")
    agent_gen_max_kw: list[float] = Field(default_factory=list, description="Upward "
                                          "generation headroom (PV, battery) per agent [kW].")


class Setpoint(AgentColumns):
    """Dispatch of one SMO (and optionally of its agents) for a market period.

    Per-agent setpoints (when the secondary market ran) are columns parallel to `agents`.
    """

    COLUMNS: ClassVar[tuple[str, ...]] = ("agent_p_kw", "agent_q_kvar")

    time: float
    smo: str
    period_start: float
    period_end: float
    p_kw: float
    q_kvar: float
    price: float = Field(0.0, description="dLMP at the SMO bus [$/kWh].")
    agents: list[str] = Field(default_factory=list, description="Dispatched agents (houses); "
                              "agent_p_kw and agent_q_kvar have one entry per agent.")
    agent_p_kw: list[float] = Field(default_factory=list, description="Setpoint P per agent.")
    agent_q_kvar: list[float] = Field(default_factory=list, description="Setpoint Q per agent.")


class Response(AgentColumns):
    """Achieved response of one SMO (devices -> market, resilience), sent every response
    period (default: the market period). SMO totals are the sending step's; the per-agent
    columns (one entry per dispatched agent, in the order of `agents`) are means over the
    dispatched steps since the previous Response.
    """

    COLUMNS: ClassVar[tuple[str, ...]] = ("agent_scheduled_kw", "agent_achieved_kw")

    time: float
    smo: str
    scheduled_kw: float
    achieved_kw: float
    agents: list[str] = Field(default_factory=list, description="Dispatched agents (houses).")
    agent_scheduled_kw: list[float] = Field(default_factory=list)
    agent_achieved_kw: list[float] = Field(default_factory=list)


class Telemetry(Payload):
    """Per-agent health indicators from which an IoT trust score is computed."""

    time: float
    smo: str
    agents: list[str]
    response_error_kw: list[float]
    anomaly: list[float] = Field(description="Behaviour anomaly indicator per agent in [0, 1].")
    messages_missed: list[int]


class PriceComponents(Payload):
    """A bus's dLMP split into its parts [$/kWh]; they add up to the dLMP."""

    energy: float = Field(description="Marginal cost of energy at the PCC [$/kWh].")
    losses: float = Field(description="Marginal losses between the PCC and the bus [$/kWh].")
    voltage: float = Field(description="Voltage-limit part [$/kWh].")
    congestion: float = Field(description="Line-limit part [$/kWh].")


class Prices(Payload):
    """Distribution locational marginal prices per bus [$/kWh] and their decomposition."""

    time: float
    buses: list[str]
    dlmp: list[float]
    components: list[PriceComponents] = Field(default_factory=list)

    def rows(self) -> list[tuple[str, str, float]]:
        out = [("dlmp", b, float(v)) for b, v in zip(self.buses, self.dlmp, strict=True)]
        for b, c in zip(self.buses, self.components, strict=False):
            out += [(f"dlmp_{name}", b, float(v)) for name, v in c]
        return out


class PccSchedule(Payload):
    """Import the market expects at the PCC for the coming period (0 when islanded).

    A market with a grid-forming unit also gives the output it schedules for that unit.
    """

    time: float
    period_start: float
    period_end: float
    p_kw: float
    q_kvar: float
    grid_forming_p_kw: float | None = Field(
        None, description="Scheduled output of the grid-forming unit [kW] (islanded: the "
        "island's load plus losses); None = the market has no grid-forming unit.")
    grid_forming_q_kvar: float | None = Field(
        None, description="Scheduled reactive output of the grid-forming unit [kvar].")


class SmoDispatch(Payload):
    """One SMO's bid and cleared dispatch (for the recorder and reports)."""

    smo: str
    p0_kw: float
    p_min_kw: float
    p_max_kw: float
    p_kw: float = Field(description="Cleared setpoint [kW] (load convention).")
    q_kvar: float
    price: float = Field(description="dLMP at the SMO bus [$/kWh] (consumer market: mu, the "
                         "price on the houses' total injection).")
    agents: int = Field(0, description="Agents dispatched by the SMO's secondary market.")
    price_deviation: float | None = Field(
        None, description="Consumer market: price on the houses' deviation mu~ [$/kWh].")
    tracking_error_kw: float | None = Field(
        None, description="Consumer market: cleared SMO total minus the houses' responses "
        "[kW] (load convention).")


class MarketDispatch(Payload):
    """Bids vs cleared setpoints of every SMO at one clearing."""

    time: float
    kind: Literal["primary", "secondary", "consumer"]
    smos: list[SmoDispatch]

    def rows(self) -> list[tuple[str, str, float]]:
        return [(f"{self.kind}.{name}", d.smo, float(v)) for d in self.smos
                for name, v in d if name != "smo" and v is not None]


class MarketMetrics(Payload):
    """One clearing's figures: costs, welfare, curtailment, predicted grid state."""

    time: float
    total_cost: float = Field(description="Objective value of the clearing [$ per period].")
    welfare: float = Field(description="Cost of serving the bids unchanged minus the "
                           "clearing's cost [$ per period].")
    curtailment_kw: float = Field(description="Load below the bids' baseline [kW].")
    relaxation_gap: float = Field(description="SOCP relaxation gap: how far the branch "
                                  "currents lie inside their cone [kW].")
    exact: bool = Field(description="The relaxation was exact (gap below tolerance).")
    pcc_p_kw: float = Field(0.0, description="Scheduled PCC import [kW].")
    losses_kw: float = Field(0.0, description="Predicted line losses [kW].")
    v_min_pu: float = Field(1.0, description="Lowest predicted voltage (balanced model).")
    v_max_pu: float = Field(1.0, description="Highest predicted voltage (balanced model).")
    mean_dlmp: float = Field(0.0, description="Load-weighted mean dLMP [$/kWh].")
    generation_kw: float = Field(0.0, description="Extra local generation dispatched [kW].")
    solve_ms: float = Field(0.0, description="Primary (or secondary) solve time [ms].")
    v_violation_pu: float = Field(0.0, description="Largest soft voltage-limit violation "
                                  "accepted by the clearing [pu].")


# ---------------------------------------------------------------- resilience and attacks


class AgentCoefficients(Payload):
    """An agent's objective coefficients in the market (re-weighted by its scores)."""

    agent: str
    alpha: float = Field(description="Generation cost coefficient [$/kW^2 per period].")
    beta: float = Field(description="Disutility coefficient [$/kW^2 per period].")


class CoefficientUpdate(Payload):
    """Re-weighted objective coefficients sent by the resilience manager to the market."""

    time: float
    agents: list[AgentCoefficients]
    xi: float
    reason: str = ""
    relative: bool = Field(
        False,
        description="True: alpha, beta and xi are factors (gammas) applied to the agents' bid "
        "coefficients and the market's own xi; False: absolute values.",
    )


class AgentScore(Payload):
    """An agent's trust, commitment and resilience scores, each in [0, 1]."""

    agent: str
    trust: float = Field(ge=0.0, le=1.0)
    commitment: float = Field(ge=0.0, le=1.0)
    resilience: float = Field(ge=0.0, le=1.0)


class Scores(Payload):
    """Scores of the secondary market operators (SMOs), by bus."""

    time: float
    scores: list[AgentScore]


class HouseScores(Payload):
    """Scores of secondary market agents (houses); SMO-level scores travel as `Scores`."""

    time: float
    houses: list[AgentScore]


class Alert(Payload):
    """An event of the resilience manager: detection, clearing, mitigation start and end."""

    time: float
    kind: Literal["attack_detected", "attack_cleared", "mitigation_started", "mitigation_ended"]
    deviation_kw: float
    detail: str = ""


class AttackType(StrEnum):
    LOAD_ALTERATION = "LA"
    DISTRIBUTED_GENERATION = "DG"


class AttackCommand(Payload):
    """Attacker -> device populations: take over the named devices or release them."""

    time: float
    attack_id: str
    action: Literal["start", "stop"]
    type: AttackType
    buses: list[str] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)
    scale_kw: float = Field(0.0, description="Target total power change [kW], load convention.")
    setpoint_shift_c: float = Field(
        0.0, description="LA only: shift the targets' thermostat setpoints by this many degC "
        "instead of forcing devices on/off (negative = more cooling).")


class AttackState(Payload):
    """Ground truth published by the attacker (for the recorder and reports only)."""

    time: float
    active: int = Field(description="Number of attacks in progress.")
    attacked: dict[str, float] = Field(
        default_factory=dict, description="Bus attacked (whole bus or some of its houses) -> 1."
    )
    cut: dict[str, float] = Field(
        default_factory=dict, description="Bus or house whose links are cut -> 1."
    )
    delay_s: dict[str, float] = Field(
        default_factory=dict, description="Bus or house whose links are delayed -> delay [s]."
    )


class MitigationState(Payload):
    """Resilience manager's view and mitigation state at one step."""

    time: float
    detected: bool = Field(description="An attack is currently flagged.")
    mitigating: bool = Field(description="Re-weighted coefficients are in force.")
    measured_kw: float = Field(description="Measured PCC import [kW] (watching an island: "
                               "the grid-forming unit's measured output).")
    scheduled_kw: float = Field(description="Market's scheduled PCC import [kW] (island: "
                                "scheduled grid-forming output).")
    reference_kw: float = Field(description="Pre-attack import (island: grid-forming output) "
                                "the mitigation restores [kW].")
    delta_kw: float = Field(description="Seed's Delta = reference - measured [kW].")
    xi_factor: float = 1.0
    alpha_factor_mean: float = 1.0
    beta_factor_mean: float = 1.0
    updates: int = Field(0, description="Coefficient updates sent since detection.")
    agents_lost: int = Field(0, description="Agents whose telemetry did not arrive this step.")


ALL_PAYLOADS: tuple[type[Payload], ...] = (
    Injection,
    InjectionSet,
    GridState,
    FlexibilityBid,
    Setpoint,
    Response,
    Telemetry,
    PriceComponents,
    Prices,
    PccSchedule,
    SmoDispatch,
    MarketDispatch,
    MarketMetrics,
    AgentCoefficients,
    CoefficientUpdate,
    AgentScore,
    Scores,
    HouseScores,
    Alert,
    AttackCommand,
    PopulationSummary,
    AttackState,
    MitigationState,
)


def export_schemas(directory: Path) -> list[Path]:
    """Write one JSON schema file per payload model; returns the written paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in ALL_PAYLOADS:
        path = directory / f"{model.__name__}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2) + "\n")
        written.append(path)
    return written
