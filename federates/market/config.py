"""Configuration models of the market operator (primary OPF, secondary markets, federate)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectiveWeights(_Strict):
    """Multi-objective weights of the seed's social-welfare objective (w1..w4).

    The seed normalises them to sum to one; any non-negative values are accepted here and
    the dLMPs are marginal values of the *weighted* objective (so with the default weights of
    1 they are in plain $/kWh).
    """

    disutility: float = Field(1.0, ge=0, description="w1: weight of the agents' disutility.")
    generation: float = Field(1.0, ge=0, description="Also weights the PCC import cost.")
    voltage: float = Field(1.0, ge=0, description="w3: weight of the voltage-deviation cost.")
    losses: float = Field(1.0, ge=0, description="w4: weight of the line-loss cost.")


class GridFormingConfig(_Strict):
    """A dispatchable grid-forming unit (generator / inverter with storage) at one bus.

    In an islanded market it holds the voltage of its bus (the OPF's reference bus) and
    balances the feeder; grid-connected it is just a dispatchable generator at its bus.
    Cost per hour: cost * P + 1/2 alpha * P^2 (+ overload_price * output above p_max).
    """

    bus: str = Field("", description="Bus of the unit; '' = the bus fed by the source bus's "
                     "only branch (the feeder side of the substation), else the source bus.")
    v_pu: float = Field(1.0, ge=0.9, le=1.1, description="Islanded: voltage held at the bus "
                        "[pu] (the grid federate's island.v_pu).")
    p_min_kw: float = Field(0.0, description="Lowest output [kW] (negative = it can absorb).")
    p_max_kw: float = Field(gt=0, description="Capacity [kW].")
    q_max_kvar: float | None = Field(
        None, gt=0, description="Reactive limit +/- [kvar]; None = unlimited.")
    cost: float = Field(0.10, description="Energy cost [$/kWh].")
    alpha: float = Field(0.0, ge=0, description="Quadratic cost [$/(kW^2 h)].")
    overload_price: float = Field(
        10.0, ge=0, description="Soft capacity: price of output above p_max_kw [$/kWh], i.e. "
        "the cap of the capacity dual (the dLMP at the unit is at most cost + alpha P + this); "
        "0 = hard limit (a clearing can then be infeasible).")

    @model_validator(mode="after")
    def _range(self) -> GridFormingConfig:
        if self.p_min_kw > self.p_max_kw:
            raise ValueError(f"p_min_kw ({self.p_min_kw}) must not exceed p_max_kw "
                             f"({self.p_max_kw})")
        return self


class PacConfig(_Strict):
    """Distributed clearing by PAC / NST-PAC (one atom per bus; spec B)."""

    rho: float = Field(0.3, gt=0, description="Proximal step rho [per unit] (grid-tuned on "
                       "the 4-bus toy with gamma: rho^2 gamma below ~0.1 is stable).")
    gamma: float = Field(1.0, gt=0, description="Dual step factor: the dual step is "
                         "rho * gamma [per unit].")
    max_iterations: int = Field(2000, ge=1, description="Iteration cap per clearing.")
    tol: float = Field(1e-5, gt=0, description="Stop when the local and consensus residuals "
                       "are below this [pu].")
    private: bool = Field(False, description="Private mode: every atom draws its step factor "
                          "gamma_j uniformly between 0.5 gamma and 1.5 gamma at every iteration.")
    seed: int = Field(0, description="Seed of the private-mode step sizes.")
    primal_momentum: bool = Field(
        False, description="NST-PAC: also extrapolate the primal iterate (the seed's alpha); "
        "off by default because it diverged on the 4-bus toy at every step size tried.")


class PrimaryConfig(_Strict):
    """Primary market (AC OPF on the feeder) settings.

    Cost coefficients are hourly rates: alpha, beta in $/(kW^2 h), prices in $/kWh, so the
    objective is in $/h and the dLMPs in $/kWh.
    """

    model: Literal["socp", "lindistflow"] = Field(
        "socp", description="Network model of the clearing: the DistFlow SOCP relaxation or "
        "the linear LinDistFlow (no losses in the flows, faster).")
    solver: Literal["central", "pac", "nst_pac"] = Field(
        "central", description="central: one cvxpy solve; pac / nst_pac: distributed clearing "
        "(one atom per bus) reported against the central solve (socp, grid-connected, "
        "linear_upper_voltage false).")
    pac: PacConfig = Field(default_factory=PacConfig)
    weights: ObjectiveWeights = Field(default_factory=ObjectiveWeights)
    import_price: float = Field(0.10, description="Energy price at the PCC [$/kWh].")
    import_price_by_hour: list[float] | None = Field(
        None, min_length=24, max_length=24,
        description="Time-of-use PCC price per hour of day [$/kWh]; overrides import_price.")
    import_price_q: float = Field(0.0, description="Reactive import price at the PCC [$/kvarh].")
    xi: float = Field(0.02, ge=0, description="Extra penalty on line losses [$/kWh].")
    voltage_cost: float = Field(
        0.0, ge=0, description="Cost of squared-voltage deviation from 1 pu [$/h per pu^2].")
    v_min_pu: float = Field(0.95, gt=0, description="Lower voltage limit [pu].")
    v_max_pu: float = Field(1.05, gt=0, description="Upper voltage limit [pu].")
    line_limits: bool = Field(True, description="Enforce the lines' ampacity limits.")
    voltage_slack_price: float = Field(
        10.0, ge=0, description="Soft voltage limits: price of a violation [$/kWh per pu of "
        "squared voltage], i.e. the cap of the voltage-bound duals; 0 = hard limits (a "
        "clearing can then be infeasible).")
    linear_upper_voltage: bool = Field(
        True, description="SOCP: apply v_max to the lossless LinDistFlow voltage (an upper "
        "bound of the true voltage) so the relaxation stays exact when v_max binds "
        "(Gan, Li, Topcu, Low 2015).")
    gap_tol_kw: float = Field(
        0.5, ge=0, description="Fictitious losses of the SOC relaxation above which the "
                               "solution is flagged inexact [kW].")
    loss_iterations: int = Field(
        3, ge=0, description="LinDistFlow: at most this many re-solves updating the fixed "
        "loss estimate (stops when the losses change by less than `loss_tol`).")
    loss_tol: float = Field(1e-3, gt=0, description="LinDistFlow: relative loss tolerance.")
    default_alpha: float = Field(0.002, ge=0, description="[$/(kW^2 h)] when a bid gives none.")
    default_beta: float = Field(0.004, ge=0, description="[$/(kW^2 h)] when a bid gives none.")
    pcc_p_min_kw: float | None = Field(
        None, description="Lowest PCC import [kW] (None = unbounded; negative = export).")
    pcc_p_max_kw: float | None = Field(None, description="Highest PCC import [kW] (None = "
                                       "unbounded).")
    islanded: bool = Field(
        False, description="Substation open: PCC import fixed at 0 (P and Q); the grid-forming "
        "unit (`grid_forming`, required) balances the feeder and holds its bus voltage.")
    grid_forming: GridFormingConfig | None = Field(
        None, description="Grid-forming unit (required when islanded).")

    @model_validator(mode="after")
    def _distributed(self) -> PrimaryConfig:
        if self.solver == "central":
            return self
        bad = {"model": self.model != "socp", "linear_upper_voltage": self.linear_upper_voltage,
               "islanded": self.islanded, "grid_forming": self.grid_forming is not None,
               "pcc_p_min_kw": self.pcc_p_min_kw is not None,
               "pcc_p_max_kw": self.pcc_p_max_kw is not None}
        for name, wrong in bad.items():
            if wrong:
                raise ValueError(f"{name}: not supported with solver {self.solver!r} (the "
                                 "atomised market is the grid-connected SOCP without the "
                                 "lossless voltage bound)")
        return self

    @model_validator(mode="after")
    def _pcc_and_island(self) -> PrimaryConfig:
        lo, hi = self.pcc_p_min_kw, self.pcc_p_max_kw
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"pcc_p_min_kw ({lo}) must not exceed pcc_p_max_kw ({hi})")
        if self.islanded:
            if self.grid_forming is None:
                raise ValueError("grid_forming: required when islanded (the unit that balances "
                                 "the island, e.g. {p_max_kw: 3000})")
            for name in ("pcc_p_min_kw", "pcc_p_max_kw"):
                if getattr(self, name) not in (None, 0.0):
                    raise ValueError(f"{name}: must be unset or 0 when islanded (the PCC "
                                     f"import is 0), got {getattr(self, name)}")
        return self


class SecondaryConfig(_Strict):
    """Secondary market (per SMO) settings: lexicographic objectives with tolerance epsilon."""

    epsilon: float = Field(0.01, ge=0, description="Relative tolerance kept on earlier stages.")
    abs_tol: float = Field(1e-6, ge=0, description="Absolute slack added to each stage bound.")
    tariff_markup: float = Field(0.0, description="SMO markup on the dLMP for local tariffs.")
    backend: Literal["clarabel", "closed", "cvxpy"] = Field(
        "closed", description="Stages 2-4 assembled directly for Clarabel, stages 3-4 in "
        "closed form where it applies (one price per SMO, P only; else Clarabel; ~3x "
        "faster), or modelled in cvxpy (reference; same problems, compiled once).")
    default_resilience: float = Field(1.0, ge=0, le=1, description="Resilience score of a "
                                      "house the manager has not scored yet.")
    commitment_memory: float = Field(
        0.8, ge=0, lt=1, description="Exponential forgetting factor of the commitment score.")
    commitment_scale_kw: float = Field(
        0.5, gt=0, description="Error [kW] at which an agent's commitment drops to 1/2.")


class ConsumerMarketConfig(_Strict):
    """Consumer markets (Stackelberg game, spec C) below the SMOs' secondary markets.

    For each listed SMO, the SMO is the consumer market operator: after its secondary
    clearing it posts two prices so that its houses' best responses deliver its cleared
    total (the houses' baselines and downward flexibility come from their bids).
    """

    smos: list[str] | Literal["all"] = Field(
        default_factory=list, description="SMOs (buses) that clear their houses through a "
        "consumer market; 'all' for every SMO; empty = none.")
    gamma: float = Field(0.5, gt=0, description="Houses' disutility coefficient gamma_i "
                         "[$/(kW^2 h)].")


class MarketConfig(_Strict):
    """Config of the market federate (autowire fills feeder and peers)."""

    feeder: str = Field("", description="Feeder name (default: the scenario's feeder).")
    primary_period: float | str = Field(900.0, description="Seconds or '15min'.")
    secondary_period: float | str = Field(300.0, description="Seconds or '5min'.")
    primary: PrimaryConfig = Field(default_factory=PrimaryConfig)
    secondary: SecondaryConfig = Field(default_factory=SecondaryConfig)
    secondary_enabled: bool = Field(True, description="Clear the secondary markets (houses "
                                    "under each SMO); off: SMO setpoints only.")
    consumer: ConsumerMarketConfig = Field(default_factory=ConsumerMarketConfig)
    smos: list[str] = Field(
        default_factory=list, description="SMO ids (= feeder buses); empty = every load bus.")
    iot_federates: list[str] = Field(
        default_factory=list, description="Federates receiving setpoints ('<fed>/sp_<smo>').")
    setpoint_port_prefix: str = Field("sp_", description="Setpoints go to "
                                      "'<iot>/<prefix><smo>'.")
    resilience_federates: list[str] = Field(
        default_factory=list, description="Resilience managers whose house scores the "
        "secondary markets use (default: every one of the scenario).")
    grid_state_key: str = Field("grid/state", description="The grid's state publication "
                                "(default: the scenario's grid; '' for none).")
    background_load: Literal["measured", "nominal", "none"] = Field(
        "measured", description="Non-market load per bus: measured by the grid minus the "
                                "SMOs' responses, the feeder's nominal loads, or zero.")
    load_scale: float = Field(1.0, description="Scale of nominal background loads.")
    silent_background: Literal["hold", "measured"] = Field(
        "hold", description="Measured background at the bus of an SMO that sent no response "
        "this period (link cut, agent down): 'hold' keeps the last background computed with a "
        "response of its own, so an unexplained change there (an attack) stays out of the "
        "schedule; 'measured' attributes it to the background (an island's market must count "
        "every kW its grid-forming unit supplies).")
    stale_bids: Literal["keep", "fixed"] = Field(
        "keep", description="An SMO whose latest bid is out of date at a primary clearing "
        "(more than half of the bid's period has passed: link cut, agent silent): 'keep' "
        "clears that bid as if it were current; 'fixed' holds the SMO at the bid's baseline "
        "without flexibility (the market does not count on an agent it cannot reach).")
    start_hour: float = Field(0.0, ge=0, lt=24, description="Time of day at HELICS time 0 [h].")


def parse_seconds(value: float | str) -> float:
    """'15min' / '30s' / '1h' / 900 -> seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = value.strip().lower()
    units = {"ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * units[suffix]
    return float(text)
